import type { DialectName } from '../../db/database.js';
import { type FieldDef, type StorageClass, storageOf } from '../collections/collection.js';
import { normalizeDatetime, toDbValue } from '../collections/field-values.js';
import type { CompareOp, Operand } from './filter-ast.js';
import { queryError, quote } from './query-errors.js';
import { asciiLower } from './sql-fragments.js';

/**
 * A value operand after lookup. `usable` is false for an `@auth` value that is missing, null or
 * of a kind no field holds (object, array, bigint, NaN): such a comparison is false.
 */
export type Value =
  | { readonly source: 'literal'; readonly value: string | number | boolean | null }
  | { readonly source: 'now'; readonly value: string }
  | { readonly source: 'auth'; readonly value: string | number | boolean; readonly usable: true }
  | { readonly source: 'auth'; readonly value: null; readonly usable: false };

const UNUSABLE: Value = { source: 'auth', value: null, usable: false };

export function resolveValue(
  operand: Exclude<Operand, { kind: 'field' }>,
  auth: Readonly<Record<string, unknown>>,
  now: string,
): Value {
  switch (operand.kind) {
    case 'literal':
      return { source: 'literal', value: operand.value };
    case 'now':
      return { source: 'now', value: now };
    case 'auth': {
      // Own properties only: `@auth.constructor` must not reach Object.prototype.
      const raw = Object.hasOwn(auth, operand.name) ? auth[operand.name] : undefined;
      if (raw instanceof Date)
        return Number.isNaN(raw.getTime())
          ? UNUSABLE
          : { source: 'auth', value: raw.toISOString(), usable: true };
      if (typeof raw === 'boolean' || (typeof raw === 'number' && Number.isFinite(raw)))
        return { source: 'auth', value: raw, usable: true };
      if (typeof raw === 'string' && !raw.includes('\0')) return { source: 'auth', value: raw, usable: true };
      return UNUSABLE;
    }
  }
}

/** True for an `@auth` value that makes any comparison with it false. */
export function unusable(value: Value): boolean {
  return value.source === 'auth' && !value.usable;
}

const EXPECTS: Record<StorageClass, string> = {
  text: 'a string',
  integer: 'an integer between -2^53 and 2^53',
  float: 'a number',
  boolean: 'true or false',
  datetime: 'a date-time string (RFC 3339) or @now',
  json: 'a JSON value',
};

/**
 * The parameter for `value` compared with `field`'s column, or undefined when an `@auth` value
 * does not fit (the comparison is then false). A literal that does not fit is
 * DATA_ERR_FILTER_VALUE naming the field.
 */
export function fieldParameter(
  field: FieldDef,
  label: string,
  value: Value,
  dialect: DialectName,
  at: number,
): { param: unknown } | undefined {
  const storage = storageOf(field);
  const v = value.value;
  let fitting: unknown;
  if (storage === 'datetime') {
    fitting = value.source === 'now' ? v : typeof v === 'string' ? normalizeDatetime(v) : undefined;
  } else if (value.source !== 'now') {
    const ok =
      (storage === 'text' && typeof v === 'string') ||
      (storage === 'integer' && typeof v === 'number' && Number.isSafeInteger(v)) ||
      (storage === 'float' && typeof v === 'number') ||
      (storage === 'boolean' && typeof v === 'boolean');
    fitting = ok ? v : undefined;
  }
  if (fitting !== undefined) return { param: toDbValue(storage, fitting, dialect) };
  if (value.source === 'auth') return undefined;
  throw queryError(
    'DATA_ERR_FILTER_VALUE',
    `Field ${quote(label)} (${field.type}) expects ${EXPECTS[storage]}; got ${describe(value)}`,
    at,
  );
}

export function describe(value: Value): string {
  if (value.source === 'now') return '@now';
  const v = value.value;
  if (typeof v === 'string') return `the string ${quote(v)}`;
  return v === null ? 'null' : `${typeof v} ${String(v)}`;
}

/**
 * Decides a comparison between two values. Two literals of different kinds are
 * DATA_ERR_FILTER_VALUE; an unusable or ill-fitting `@auth` value makes it false.
 */
export function compareValues(op: CompareOp, left: Value, right: Value, at: number): boolean {
  if (unusable(left) || unusable(right)) return false;
  const a = comparable(left, right, at);
  const b = comparable(right, left, at);
  if (a === undefined || b === undefined) return false;
  if (typeof a !== typeof b) {
    if (left.source === 'auth' || right.source === 'auth') return false;
    throw queryError('DATA_ERR_FILTER_VALUE', `Cannot compare ${describe(left)} with ${describe(right)}`, at);
  }
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '~':
    case '!~': {
      if (typeof a !== 'string' || typeof b !== 'string') {
        if (left.source === 'auth' || right.source === 'auth') return false;
        throw queryError('DATA_ERR_FILTER_VALUE', '"~" and "!~" compare strings', at);
      }
      const found = asciiLower(a).includes(asciiLower(b));
      return op === '~' ? found : !found;
    }
    default: {
      if (a === null || b === null) throw queryError('DATA_ERR_FILTER_VALUE', 'null has no order', at);
      const order = a < b ? -1 : a > b ? 1 : 0;
      if (op === '<') return order < 0;
      if (op === '<=') return order <= 0;
      if (op === '>') return order > 0;
      return order >= 0;
    }
  }
}

/** A value as compared with `other`: a string next to @now is read as a date-time. */
function comparable(value: Value, other: Value, at: number): string | number | boolean | null | undefined {
  if (other.source !== 'now' || value.source === 'now') return value.value;
  if (typeof value.value === 'string') {
    const normalized = normalizeDatetime(value.value);
    if (normalized !== undefined || value.source === 'auth') return normalized;
  }
  if (value.source === 'auth') return undefined;
  throw queryError('DATA_ERR_FILTER_VALUE', `Cannot compare ${describe(value)} with @now`, at);
}
