import { z } from 'zod';
import { nameProblem, SYSTEM_FIELDS } from './names.js';

/**
 * A collection's definition: the JSON an app developer sends to `/api/v1/collections` and what
 * `_gw_collections` stores. Each collection is a real table named after it, each field a real
 * column, each declared index a real index. Constraints that need a message per field
 * (required, min/max, length, pattern) are checked by Groundwork before the write; the engine
 * enforces the ones that must hold under concurrency (primary key, unique indexes, relations).
 */

const name = z.string().superRefine((value, ctx) => {
  const problem = nameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const fieldName = name.refine((value) => !(SYSTEM_FIELDS as readonly string[]).includes(value), {
  message: 'is a system field (id, created, updated are always present)',
});

const base = {
  name: fieldName,
  required: z.boolean().default(false),
  unique: z.boolean().default(false),
};

const finite = z.number().refine(Number.isFinite, 'must be finite');
const length = z.number().int().min(0).max(1_000_000);

export const textField = z.strictObject({
  ...base,
  type: z.literal('text'),
  min: length.optional(),
  max: length.optional(),
  pattern: z
    .string()
    .max(500)
    .refine((p) => {
      try {
        new RegExp(p, 'u');
        return true;
      } catch {
        return false;
      }
    }, 'must be a valid regular expression')
    .optional(),
  default: z.string().optional(),
});

export const numberField = z.strictObject({
  ...base,
  type: z.literal('number'),
  integer: z.boolean().default(false),
  min: finite.optional(),
  max: finite.optional(),
  default: finite.optional(),
});

export const booleanField = z.strictObject({
  ...base,
  type: z.literal('boolean'),
  default: z.boolean().optional(),
});

export const datetimeField = z.strictObject({
  ...base,
  type: z.literal('datetime'),
  min: z.iso.datetime({ offset: true }).optional(),
  max: z.iso.datetime({ offset: true }).optional(),
  default: z.iso.datetime({ offset: true }).optional(),
});

export const jsonField = z.strictObject({
  ...base,
  type: z.literal('json'),
  maxBytes: z.number().int().min(1).max(16_777_216).optional(),
  default: z.unknown().optional(),
});

export const selectField = z.strictObject({
  ...base,
  type: z.literal('select'),
  values: z.array(z.string().min(1).max(200)).min(1).max(500),
  multiple: z.boolean().default(false),
  maxSelect: z.number().int().min(1).optional(),
  default: z.union([z.string(), z.array(z.string())]).optional(),
});

export const relationField = z.strictObject({
  ...base,
  type: z.literal('relation'),
  collection: name,
  multiple: z.boolean().default(false),
  maxSelect: z.number().int().min(1).max(1000).optional(),
  onDelete: z.enum(['cascade', 'set null', 'restrict']).default('restrict'),
});

export const emailField = z.strictObject({
  ...base,
  type: z.literal('email'),
  min: length.optional(),
  max: length.optional(),
  domains: z.array(z.string().min(1)).optional(),
  default: z.string().optional(),
});

export const urlField = z.strictObject({
  ...base,
  type: z.literal('url'),
  min: length.optional(),
  max: length.optional(),
  default: z.string().optional(),
});

export const fieldSchema = z.discriminatedUnion('type', [
  textField,
  numberField,
  booleanField,
  datetimeField,
  jsonField,
  selectField,
  relationField,
  emailField,
  urlField,
]);

export const indexSchema = z.strictObject({
  /** Index name; default `<collection>_<fields joined by _>_idx` (or `_key` when unique). */
  name: name.optional(),
  fields: z.array(z.string()).min(1).max(8),
  unique: z.boolean().default(false),
});

const rule = z.string().max(4096).nullable().default(null);

export const rulesSchema = z.strictObject({
  list: rule,
  view: rule,
  create: rule,
  update: rule,
  delete: rule,
});

const ttlMs = z.number().int().min(1).max(86_400_000);
const maxEntries = z.number().int().min(1).max(100_000_000);
const consistency = z.enum(['strong', 'eventual']);
/** HTTP caching of record reads (`Cache-Control`); see `src/data/cache/http-caching.ts`. */
export const httpCacheSchema = z.strictObject({
  /** `public` lets shared caches (CDNs, proxies) store anonymous responses; only for public rules. */
  visibility: z.enum(['private', 'public']).default('private'),
  /** `max-age` in seconds; 0 = store but revalidate every time (`no-cache`). */
  maxAgeS: z.number().int().min(0).max(31_536_000).default(0),
});

/**
 * Per-collection caching (src/data/cache): server-side cache-aside of record reads, and HTTP
 * caching. Absent = no server-side cache, and `Cache-Control: no-store` for rule-protected data.
 */
export const cacheSettingsSchema = z.strictObject({
  /** Server-side caching of record reads and lists. Default true when `cache` is given. */
  enabled: z.boolean().default(true),
  /** How long a cached read stays fresh, in ms (jittered ±10%). */
  ttlMs: ttlMs.default(60_000),
  /** Most cached reads of this collection per node; absent = only the platform's cache bounds. */
  maxEntries: maxEntries.optional(),
  /**
   * `strong`: no node returns a value older than an acknowledged write (a shared-store read per
   * cached read). `eventual`: no shared-store read; staleness bounded by bus delivery and the TTL.
   */
  consistency: consistency.default('strong'),
  /** A create/update stores the new record under its by-id key in the same request. */
  writeThrough: z.boolean().default(false),
  httpCache: httpCacheSchema.optional(),
});

/** A change of the cache settings: given keys replace, `null` removes an optional one. */
export const cachePatchSchema = z.strictObject({
  enabled: z.boolean().optional(),
  ttlMs: ttlMs.optional(),
  maxEntries: maxEntries.nullable().optional(),
  consistency: consistency.optional(),
  writeThrough: z.boolean().optional(),
  httpCache: httpCacheSchema.nullable().optional(),
});

export const collectionInputSchema = z.strictObject({
  name,
  /** `auth`: records are users who can sign in (src/data/collections/auth-collection.ts). */
  type: z.enum(['base', 'auth']).default('base'),
  fields: z.array(fieldSchema).max(200).default([]),
  indexes: z.array(indexSchema).max(64).default([]),
  rules: rulesSchema.default({ list: null, view: null, create: null, update: null, delete: null }),
  cache: cacheSettingsSchema.optional(),
});

export type FieldDef = z.infer<typeof fieldSchema>;
export type CollectionType = 'base' | 'auth';
export type FieldType = FieldDef['type'];
export type IndexDef = z.infer<typeof indexSchema> & { name: string };
export type Rules = z.infer<typeof rulesSchema>;
export type RuleName = keyof Rules;
export type CacheSettings = z.infer<typeof cacheSettingsSchema>;
export type CachePatch = z.infer<typeof cachePatchSchema>;
export const RULE_NAMES: readonly RuleName[] = ['list', 'view', 'create', 'update', 'delete'];

/** A stored, validated collection: what the rest of the data block reads. */
export interface CollectionDef {
  readonly name: string;
  readonly type: CollectionType;
  readonly fields: readonly FieldDef[];
  readonly indexes: readonly IndexDef[];
  readonly rules: Rules;
  /** Caching of this collection's reads; absent = off (see `cacheSettingsSchema`). */
  readonly cache?: CacheSettings;
  readonly created: string;
  readonly updated: string;
}

/** The change operations `PATCH /api/v1/collections/{name}` accepts, applied in this order. */
export const collectionPatchSchema = z.strictObject({
  dropIndexes: z.array(name).max(64).default([]),
  dropFields: z.array(z.string()).max(200).default([]),
  renameFields: z
    .array(z.strictObject({ from: z.string(), to: fieldName }))
    .max(200)
    .default([]),
  addFields: z.array(fieldSchema).max(200).default([]),
  addIndexes: z.array(indexSchema).max(64).default([]),
  rules: rulesSchema.partial().optional(),
  /** Merged into the current settings (which a given object creates); `null` removes them. */
  cache: cachePatchSchema.nullable().optional(),
});
export type CollectionPatch = z.infer<typeof collectionPatchSchema>;

/** Default name of an index: stable, within PostgreSQL's 63-byte identifier limit. */
export function defaultIndexName(collection: string, fields: readonly string[], unique: boolean): string {
  const full = `${collection}_${fields.join('_')}_${unique ? 'key' : 'idx'}`;
  return full.length <= 63 ? full : `${full.slice(0, 54)}_${fnv(full)}`;
}

function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** How a field's values are stored: the dialect-neutral storage class of its column. */
export type StorageClass = 'text' | 'integer' | 'float' | 'boolean' | 'datetime' | 'json';

export function storageOf(field: FieldDef): StorageClass {
  switch (field.type) {
    case 'number':
      return field.integer ? 'integer' : 'float';
    case 'boolean':
      return 'boolean';
    case 'datetime':
      return 'datetime';
    case 'json':
      return 'json';
    case 'select':
    case 'relation':
      return field.multiple ? 'json' : 'text';
    default:
      return 'text';
  }
}

/** True for fields whose value is a list (multi select, multi relation). */
export function isMultiple(field: FieldDef): boolean {
  return (field.type === 'select' || field.type === 'relation') && field.multiple;
}

/** System fields, described like user fields so the query compiler treats all fields alike. */
export const SYSTEM_FIELD_DEFS: readonly FieldDef[] = [
  { name: 'id', type: 'text', required: true, unique: true },
  { name: 'created', type: 'datetime', required: true, unique: false },
  { name: 'updated', type: 'datetime', required: true, unique: false },
];

/** Every field of a collection, system fields first, by name. */
export function fieldsByName(collection: Pick<CollectionDef, 'fields'>): ReadonlyMap<string, FieldDef> {
  const map = new Map<string, FieldDef>();
  for (const field of SYSTEM_FIELD_DEFS) map.set(field.name, field);
  for (const field of collection.fields) map.set(field.name, field);
  return map;
}
