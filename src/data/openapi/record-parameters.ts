import type { ResolvedConfig } from '../../core/config.js';
import { type CollectionDef, storageOf } from '../collections/collection.js';
import { MAX_OFFSET } from '../records/read-options.js';
import type { OpenApiObject } from './openapi-parts.js';

/**
 * The query and header parameters of record operations, with the limits in force (the `data`
 * config) and, for `fields`, `expand` and `sort`, the collection's own names.
 */
export type DataLimits = ResolvedConfig['data'];

/** Query and header parameters shared by every collection's record operations. */
export function recordParameters(limits: DataLimits): Record<string, OpenApiObject> {
  const query = (name: string, schema: OpenApiObject, description: string) => ({
    name,
    in: 'query',
    required: false,
    description,
    schema,
  });
  return {
    Filter: query(
      'filter',
      { type: 'string', maxLength: 4096 },
      'Filter expression over the fields, e.g. `title ~ "news" && views >= 10` (at most 4096 characters, 100 comparisons).',
    ),
    Limit: query(
      'limit',
      { type: 'integer', minimum: 1, maximum: limits.maxPageSize, default: limits.defaultPageSize },
      `Records per page (1–${limits.maxPageSize}, default ${limits.defaultPageSize}).`,
    ),
    Cursor: query(
      'cursor',
      { type: 'string' },
      'Opaque cursor from `nextCursor` for the same `sort`. Not with `offset`.',
    ),
    Offset: query(
      'offset',
      { type: 'integer', minimum: 0, maximum: MAX_OFFSET },
      `Skip this many records (0–${MAX_OFFSET}). Not with \`cursor\`; prefer cursors for deep pages.`,
    ),
    Total: query(
      'total',
      { type: 'boolean', default: false },
      'Also count every matching record (`total` in the page).',
    ),
    IfMatch: {
      name: 'If-Match',
      in: 'header',
      required: false,
      description: 'Write only if the record is at this ETag (or `*`); else 412 with the current ETag.',
      schema: { type: 'string', maxLength: 256 },
    },
    IfNoneMatch: {
      name: 'If-None-Match',
      in: 'header',
      required: false,
      description: 'ETag(s) the client holds: 304 without a body when one is current.',
      schema: { type: 'string' },
    },
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'A unique key, as an RFC 8941 string (`"…"`) or a token, at most 255 characters: a retry gets the stored response instead of a second effect.',
      schema: { type: 'string', minLength: 1 },
    },
  };
}

function listOf(names: readonly string[]): string {
  return names.map((n) => `\`${n}\``).join(', ');
}

/** `fields` and `expand`, with the collection's own names in their descriptions. */
export function shapeParameters(def: CollectionDef, limits: DataLimits): OpenApiObject[] {
  const fields = ['id', 'created', 'updated', ...def.fields.map((f) => f.name)];
  const relations = def.fields.flatMap((f) => (f.type === 'relation' ? [`${f.name} → ${f.collection}`] : []));
  return [
    {
      name: 'fields',
      in: 'query',
      required: false,
      description: `Comma-separated fields to return (records then carry only these, plus \`expand\`): ${listOf(fields)}; \`expand.<path>.<field>\` picks fields of expanded records.`,
      schema: { type: 'string' },
    },
    {
      name: 'expand',
      in: 'query',
      required: false,
      description:
        relations.length === 0
          ? 'This collection has no relation to expand.'
          : limits.maxExpandDepth === 0
            ? 'Expanding is disabled (`data.maxExpandDepth` is 0).'
            : `Comma-separated relation paths to expand (at most 16, depth ≤ ${limits.maxExpandDepth}, e.g. \`a.b\`): ${listOf(relations)}.`,
      schema: { type: 'string' },
    },
  ];
}

export function sortParameter(def: CollectionDef): OpenApiObject {
  const sortable = [
    'id',
    'created',
    'updated',
    ...def.fields.filter((f) => storageOf(f) !== 'json').map((f) => f.name),
  ];
  return {
    name: 'sort',
    in: 'query',
    required: false,
    description: `Comma-separated sort keys, \`-\` for descending (at most 8; \`id\` breaks ties): ${listOf(sortable)}.`,
    schema: { type: 'string', maxLength: 1000 },
  };
}
