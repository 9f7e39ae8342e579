import type { CollectionDef, FieldDef } from '../collections/collection.js';
import { RECORD_ID_PATTERN } from '../records/record-id.js';
import { type JsonSchema, ref } from './openapi-parts.js';

/**
 * JSON Schemas of a collection's records, derived from its definition and the rules the record
 * code applies (src/data/records/record-validation.ts, field-values.ts):
 * - `<Name>Record`: what the API returns. Every field is present (null when unset), so all are
 *   required; fields not declared `required` are nullable. Reads may add `expand`.
 * - `<Name>Create`: the body of a create (and of a replace, PUT): required fields without a
 *   default must be given; unknown members are refused.
 * - `<Name>Patch`: the body of an update: any subset of the fields.
 * - `<Name>List`: a page of records.
 */

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** `blog_posts` → `BlogPosts`. One-to-one over valid names: an `_` not before a letter is kept. */
export function schemaBaseName(collection: string): string {
  return collection.replace(/(^|_)([a-z])/g, (_match, _underscore, letter: string) => letter.toUpperCase());
}

/**
 * The component names of a collection's schemas. Fixed schema names (Problem, Collection, …)
 * never end in Record/Create/Patch/List, so they cannot collide with these.
 */
export function schemaNames(collection: string) {
  const base = schemaBaseName(collection);
  return { record: `${base}Record`, create: `${base}Create`, patch: `${base}Patch`, list: `${base}List` };
}

export const RECORD_ID: JsonSchema = {
  type: 'string',
  format: 'uuid',
  pattern: RECORD_ID_PATTERN.source,
  description: 'Record id: a UUIDv7 in lowercase hex.',
};

/** Datetimes are stored and returned in one form: UTC with milliseconds. */
export const STORED_DATETIME: JsonSchema = {
  type: 'string',
  format: 'date-time',
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$',
};

type Mode = 'read' | 'write';

function lengths(field: { min?: number | undefined; max?: number | undefined }, atLeast: number): JsonSchema {
  const min = Math.max(field.min ?? 0, atLeast);
  return {
    ...(min > 0 ? { minLength: min } : {}),
    ...(field.max !== undefined ? { maxLength: field.max } : {}),
  };
}

/** The schema of a present, non-null value of `field`. */
function valueSchema(field: FieldDef, mode: Mode): JsonSchema {
  // A required field refuses empty values on write; on read we promise only what storage keeps.
  const nonEmpty = mode === 'write' && field.required ? 1 : 0;
  switch (field.type) {
    case 'text':
      return {
        type: 'string',
        ...lengths(field, nonEmpty),
        ...(field.pattern !== undefined ? { pattern: field.pattern } : {}),
      };
    case 'email':
    case 'url': {
      const format = field.type === 'email' ? 'email' : 'uri';
      const schema: JsonSchema = { type: 'string', ...lengths(field, nonEmpty) };
      // An optional address may be the empty string (unless a minimum length forbids it).
      const emptyAllowed = !field.required && (field.min ?? 0) === 0;
      if (emptyAllowed) return { ...schema, anyOf: [{ format }, { const: '' }] };
      return { ...schema, format };
    }
    case 'number':
      return field.integer
        ? {
            type: 'integer',
            minimum: Math.max(field.min ?? -MAX_SAFE, -MAX_SAFE),
            maximum: Math.min(field.max ?? MAX_SAFE, MAX_SAFE),
          }
        : {
            type: 'number',
            ...(field.min !== undefined ? { minimum: field.min } : {}),
            ...(field.max !== undefined ? { maximum: field.max } : {}),
          };
    case 'boolean':
      return { type: 'boolean' };
    case 'datetime':
      return mode === 'read'
        ? STORED_DATETIME
        : {
            type: 'string',
            anyOf: [{ format: 'date-time' }, { format: 'date' }],
            description: 'RFC 3339 date-time with any offset, or a date (midnight UTC); returned in UTC.',
          };
    case 'json': {
      // Any JSON value; a required one may not be null.
      const schema: JsonSchema = field.required ? { not: { type: 'null' } } : {};
      if (field.maxBytes !== undefined) schema.description = `At most ${field.maxBytes} bytes as JSON.`;
      return schema;
    }
    case 'select': {
      const one: JsonSchema = { type: 'string', enum: field.values };
      if (!field.multiple) return one;
      return {
        type: 'array',
        items: one,
        uniqueItems: true,
        ...(nonEmpty ? { minItems: 1 } : {}),
        ...(field.maxSelect !== undefined ? { maxItems: field.maxSelect } : {}),
      };
    }
    case 'relation': {
      if (!field.multiple) return { ...RECORD_ID, description: `Id of a record of "${field.collection}".` };
      return {
        type: 'array',
        items: RECORD_ID,
        uniqueItems: true,
        ...(nonEmpty ? { minItems: 1 } : {}),
        maxItems: field.maxSelect ?? 1000,
        description: `Ids of records of "${field.collection}".`,
      };
    }
  }
}

/** Adds `null` to a value schema (`type: [T, "null"]`, and to `enum`). */
function nullable(schema: JsonSchema): JsonSchema {
  if (schema.type === undefined) return schema; // any JSON value, null included
  const out: JsonSchema = { ...schema, type: [schema.type, 'null'] };
  if (Array.isArray(schema.enum)) out.enum = [...schema.enum, null];
  return out;
}

function fieldSchema(field: FieldDef, mode: Mode): JsonSchema {
  const value = valueSchema(field, mode);
  return field.required ? value : nullable(value);
}

function hasDefault(field: FieldDef): boolean {
  return 'default' in field && field.default !== undefined;
}

/** `expand`: for each relation, the related record (single) or records (multiple) the caller may see. */
function expandSchema(def: CollectionDef, known: ReadonlySet<string>): JsonSchema | undefined {
  const properties: Record<string, JsonSchema> = {};
  for (const field of def.fields) {
    if (field.type !== 'relation') continue;
    const target = known.has(field.collection)
      ? ref(schemaNames(field.collection).record)
      : { type: 'object' };
    properties[field.name] = field.multiple ? { type: 'array', items: target } : target;
  }
  if (Object.keys(properties).length === 0) return undefined;
  return {
    type: 'object',
    description:
      'Present when `expand` was requested: the related records the caller may view (a hidden or missing one is left out).',
    properties,
    additionalProperties: false,
  };
}

/** The four schemas of one collection, keyed by component name. */
export function collectionSchemas(
  def: CollectionDef,
  known: ReadonlySet<string>,
): Record<string, JsonSchema> {
  const names = schemaNames(def.name);
  const readFields: Record<string, JsonSchema> = {};
  const writeFields: Record<string, JsonSchema> = {};
  for (const field of def.fields) {
    readFields[field.name] = fieldSchema(field, 'read');
    writeFields[field.name] = fieldSchema(field, 'write');
  }
  const expand = expandSchema(def, known);
  const ignored = (name: string) => ({
    description: `Ignored: \`${name}\` is set by the server (accepted so a record read can be sent back).`,
  });
  return {
    [names.record]: {
      type: 'object',
      description: `A record of "${def.name}". Every field is present; with \`fields\`, reads return only those.`,
      properties: {
        id: RECORD_ID,
        created: STORED_DATETIME,
        updated: STORED_DATETIME,
        ...readFields,
        ...(expand ? { expand } : {}),
      },
      required: ['id', 'created', 'updated', ...def.fields.map((f) => f.name)],
      additionalProperties: false,
    },
    [names.create]: {
      type: 'object',
      description: `A new "${def.name}" record (also the body of a replace). Absent fields take their default, else null.`,
      properties: {
        id: { ...RECORD_ID, description: 'Optional client-chosen id (UUIDv7). Ignored by a replace.' },
        created: ignored('created'),
        updated: ignored('updated'),
        ...writeFields,
      },
      required: def.fields.filter((f) => f.required && !hasDefault(f)).map((f) => f.name),
      additionalProperties: false,
    },
    [names.patch]: {
      type: 'object',
      description: `Changes to a "${def.name}" record: only the fields given are written.`,
      properties: {
        id: ignored('id'),
        created: ignored('created'),
        updated: ignored('updated'),
        ...writeFields,
      },
      additionalProperties: false,
    },
    [names.list]: {
      type: 'object',
      description: `A page of "${def.name}" records.`,
      properties: {
        items: { type: 'array', items: ref(names.record) },
        limit: { type: 'integer', minimum: 1 },
        offset: {
          type: 'integer',
          minimum: 0,
          description: 'Present when the page was asked for by `offset`.',
        },
        nextCursor: {
          type: ['string', 'null'],
          description: 'Cursor of the next page; null on the last page (and with `offset`).',
        },
        total: {
          type: 'integer',
          minimum: 0,
          description: 'Present with `total=true`: all matching records.',
        },
        links: {
          type: 'object',
          properties: { self: { type: 'string' }, next: { type: 'string' } },
          required: ['self'],
          additionalProperties: false,
        },
      },
      required: ['items', 'limit', 'nextCursor', 'links'],
      additionalProperties: false,
    },
  };
}
