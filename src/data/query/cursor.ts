import { type Expression, type SqlBool, sql } from 'kysely';
import type { DialectName } from '../../db/database.js';
import { isNormalizedDatetime, toDbValue } from '../collections/field-values.js';
import { queryError } from './query-errors.js';
import { printSort, type SortKey, type SortSpec } from './sort.js';
import { allOf, anyOf, type Condition, toSql } from './sql-fragments.js';

/**
 * Keyset ("cursor") pagination. A cursor carries the sort-key values of the last row of a page,
 * in their API form, plus a fingerprint of the sort it was made for; the next page is the rows
 * strictly after that row in the sort order. Unlike offsets, rows inserted or deleted between
 * pages never make a page skip or repeat a row that existed throughout.
 *
 * Cursors are not signed: forging one only chooses where a listing starts, which a filter can do
 * anyway; the list rule and filter still apply to every page.
 */

export type CursorValue = string | number | boolean | null;

/** Longest cursor accepted (8 keys of long text values fit comfortably). */
export const CURSOR_MAX_LENGTH = 8192;

/**
 * The cursor after the row whose sort-key values (in `sort.keys` order, API form: datetimes as
 * ISO strings, numbers, booleans, null) are `values`.
 *
 * @example encodeCursor(sort, sort.keys.map((key) => lastRecord[key.field] ?? null))
 */
export function encodeCursor(sort: SortSpec, values: readonly unknown[]): string {
  if (values.length !== sort.keys.length) throw new Error('encodeCursor: one value per sort key');
  return Buffer.from(JSON.stringify({ s: fingerprint(sort), v: values }), 'utf8').toString('base64url');
}

/** The values of a cursor made by `encodeCursor` for the same sort, else DATA_ERR_CURSOR_INVALID. */
export function decodeCursor(token: string, sort: SortSpec): CursorValue[] {
  const invalid = (why: string) => queryError('DATA_ERR_CURSOR_INVALID', `Invalid cursor: ${why}`);
  if (token.length === 0 || token.length > CURSOR_MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token))
    throw invalid('not a cursor token');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not a cursor token');
  }
  if (typeof decoded !== 'object' || decoded === null) throw invalid('not a cursor token');
  const { s, v } = decoded as { s?: unknown; v?: unknown };
  if (s !== fingerprint(sort)) throw invalid('it was made for a different sort');
  if (!Array.isArray(v) || v.length !== sort.keys.length) throw invalid('wrong number of values');
  return sort.keys.map((key, i) => {
    const value: unknown = v[i];
    if (!fits(key, value)) throw invalid(`bad value for ${key.field}`);
    return value;
  });
}

function fits(key: SortKey, value: unknown): value is CursorValue {
  if (value === null) return key.field !== 'id';
  switch (key.storage) {
    case 'text':
      return typeof value === 'string' && !value.includes('\0');
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'float':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'datetime':
      return typeof value === 'string' && isNormalizedDatetime(value);
  }
}

function fingerprint(sort: SortSpec): string {
  const text = printSort(sort);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

/**
 * Rows strictly after the row whose sort-key values are `values`, in `sort`'s order with NULL as
 * the greatest value (as `orderByItems` sorts). Expands to
 * `after(k1) OR (same(k1) AND (after(k2) OR (same(k2) AND …)))`, where for one key
 * ascending: after = `k > v OR k IS NULL`, or nothing when v is null;
 * descending: after = `k < v`, or `k IS NOT NULL` when v is null; same = `k = v` / `k IS NULL`.
 */
export function keysetCondition(
  sort: SortSpec,
  values: readonly CursorValue[],
  ctx: { readonly dialect: DialectName; readonly collection: { readonly name: string } },
): Expression<SqlBool> {
  let condition: Condition = false;
  for (let i = sort.keys.length - 1; i >= 0; i--) {
    const key = sort.keys[i] as SortKey;
    const value = values[i] ?? null;
    const column = sql.ref(`${ctx.collection.name}.${key.field}`);
    let after: Condition;
    let same: Condition;
    if (value === null) {
      same = sql<SqlBool>`${column} is null`;
      after = key.direction === 'asc' ? false : sql<SqlBool>`${column} is not null`;
    } else {
      const param = toDbValue(key.storage, value, ctx.dialect);
      same = sql<SqlBool>`${column} = ${param}`;
      // `id` is never null, so its ascending step needs no null branch (and stays index-friendly).
      after =
        key.direction === 'desc' || key.field === 'id'
          ? sql<SqlBool>`${column} ${key.direction === 'asc' ? sql`>` : sql`<`} ${param}`
          : sql<SqlBool>`(${column} > ${param} or ${column} is null)`;
    }
    condition = anyOf([after, allOf([same, condition])]);
  }
  return toSql(condition);
}
