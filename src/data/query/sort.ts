import { type RawBuilder, sql } from 'kysely';
import { type CollectionDef, fieldsByName, type StorageClass, storageOf } from '../collections/collection.js';
import { queryError, quote } from './query-errors.js';

export const SORT_MAX_KEYS = 8;

export type SortDirection = 'asc' | 'desc';

export interface SortKey {
  readonly field: string;
  readonly direction: SortDirection;
  readonly storage: Exclude<StorageClass, 'json'>;
}

/**
 * A sort order whose keys always include the unique `id`, so it is total and keyset pagination
 * never skips or repeats a row.
 */
export interface SortSpec {
  readonly keys: readonly SortKey[];
}

const ID_ASC: SortKey = { field: 'id', direction: 'asc', storage: 'text' };

/**
 * Parses `?sort=`: comma-separated field names, each optionally prefixed with `-` (descending)
 * or `+` (ascending, the default). Only plain fields of a single value sort (not JSON fields,
 * JSON paths, relation paths or multi-valued fields); at most SORT_MAX_KEYS keys, no field twice.
 * `id` ascending is appended as the tie-breaker unless present; empty or absent text sorts by
 * `id` (UUIDv7, so roughly creation order). Throws DATA_ERR_SORT_INVALID.
 *
 * @example parseSort('-created,title', posts) // created desc, title asc, id asc
 */
export function parseSort(text: string | undefined, collection: Pick<CollectionDef, 'fields'>): SortSpec {
  if (text === undefined || text.trim() === '') return { keys: [ID_ASC] };
  if (text.length > 1000) throw queryError('DATA_ERR_SORT_INVALID', 'The sort is too long');
  const parts = text.split(',');
  if (parts.length > SORT_MAX_KEYS)
    throw queryError('DATA_ERR_SORT_INVALID', `Sort by at most ${SORT_MAX_KEYS} fields`);
  const fields = fieldsByName(collection);
  const keys: SortKey[] = [];
  for (const rawPart of parts) {
    const part = rawPart.trim();
    const direction: SortDirection = part.startsWith('-') ? 'desc' : 'asc';
    const name = /^[-+]/.test(part) ? part.slice(1) : part;
    const field = fields.get(name);
    if (!field) throw queryError('DATA_ERR_SORT_INVALID', `Cannot sort by ${quote(name)}: no such field`);
    const storage = storageOf(field);
    if (storage === 'json')
      throw queryError(
        'DATA_ERR_SORT_INVALID',
        `Cannot sort by ${quote(name)}: JSON and multi-valued fields do not sort`,
      );
    if (keys.some((key) => key.field === name))
      throw queryError('DATA_ERR_SORT_INVALID', `${quote(name)} appears twice in the sort`);
    keys.push({ field: name, direction, storage });
  }
  if (!keys.some((key) => key.field === 'id')) keys.push(ID_ASC);
  return { keys };
}

/** `-created,title,id`: the sort as text; also the identity a cursor is bound to. */
export function printSort(sort: SortSpec): string {
  return sort.keys.map((key) => `${key.direction === 'desc' ? '-' : ''}${key.field}`).join(',');
}

/**
 * ORDER BY items for `sort` over `table`: NULL sorts as the greatest value on every engine
 * (ascending NULLS LAST, descending NULLS FIRST; PostgreSQL's own default, written out because
 * SQLite's is the opposite), which `keysetCondition` relies on. `id` is never NULL, so its item is
 * plain: SQLite can then serve the tie-breaker from an index instead of sorting the page's rows
 * in a temporary B-tree (it can place NULLs last only for the first column after the equality
 * constraints).
 *
 * @example
 *   let query = db.kysely.selectFrom('posts').selectAll();
 *   for (const item of orderByItems(sort, 'posts')) query = query.orderBy(item);
 */
export function orderByItems(sort: SortSpec, table: string): RawBuilder<unknown>[] {
  return sort.keys.map((key) => {
    const column = sql.ref(`${table}.${key.field}`);
    if (key.field === 'id') return key.direction === 'asc' ? sql`${column} asc` : sql`${column} desc`;
    return key.direction === 'asc' ? sql`${column} asc nulls last` : sql`${column} desc nulls first`;
  });
}

/** Minimal shape of a Kysely SelectQueryBuilder for `applySort`. */
interface Orderable<Q> {
  orderBy(expression: RawBuilder<unknown>): Q;
}

/** `query` ordered by `sort` (see `orderByItems`). */
export function applySort<Q extends Orderable<Q>>(query: Q, sort: SortSpec, table: string): Q {
  let ordered = query;
  for (const item of orderByItems(sort, table)) ordered = ordered.orderBy(item);
  return ordered;
}
