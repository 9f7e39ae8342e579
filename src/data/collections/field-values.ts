import type { DialectName } from '../../db/database.js';
import type { StorageClass } from './collection.js';

/**
 * Conversion between a field's API value (JSON) and what its column holds, per dialect.
 * SQLite: booleans as 0/1, datetimes as fixed-width ISO-8601 UTC text (so text order is time
 * order), JSON as text. PostgreSQL: boolean, timestamptz, jsonb, bigint (returned by pg as a
 * string), double precision. Values passed to a query are always parameters.
 */

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * A datetime in the one form Groundwork stores and returns: `YYYY-MM-DDTHH:MM:SS.sssZ`.
 * Accepts RFC 3339 date-times with any offset, or a bare date (midnight UTC). Undefined when
 * the text is not a date-time or lies outside years 0000–9999.
 */
export function normalizeDatetime(text: string): string | undefined {
  if (text.length > 40) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:\d{2}))?$/.test(text))
    return undefined;
  const [datePart] = text.split(/[T ]/);
  const [y, m, d] = (datePart ?? '').split('-').map(Number);
  if (m === undefined || d === undefined || y === undefined || m < 1 || m > 12 || d < 1 || d > 31)
    return undefined;
  const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text.replace(' ', 'T'));
  if (!Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  // Date.parse rolls 2024-02-31 over into March; a calendar date that does not exist is refused.
  if (text.length === 10 && date.getUTCDate() !== d) return undefined;
  if (date.getUTCFullYear() < 0 || date.getUTCFullYear() > 9999) return undefined;
  return date.toISOString();
}

export function isNormalizedDatetime(text: string): boolean {
  return ISO_UTC.test(text);
}

/** The parameter to bind for an already-validated API value of a column of `storage`. */
export function toDbValue(storage: StorageClass, value: unknown, dialect: DialectName): unknown {
  if (value === null || value === undefined) return null;
  switch (storage) {
    case 'boolean':
      return dialect === 'sqlite' ? (value ? 1 : 0) : Boolean(value);
    case 'json':
      // Always text: pg would turn a JS array into a PostgreSQL array literal.
      return JSON.stringify(value);
    default:
      return value;
  }
}

/** The API value of a column value as the driver returned it. */
export function fromDbValue(storage: StorageClass, raw: unknown, dialect: DialectName): unknown {
  if (raw === null || raw === undefined) return null;
  switch (storage) {
    case 'integer':
      return typeof raw === 'number' ? raw : Number(raw);
    case 'float':
      return typeof raw === 'number' ? raw : Number(raw);
    case 'boolean':
      return typeof raw === 'boolean' ? raw : raw === 1 || raw === '1' || raw === 't';
    case 'datetime':
      if (raw instanceof Date) return raw.toISOString();
      // Groundwork writes datetimes already normalized; only foreign values need the full parse.
      if (typeof raw === 'string' && raw.length === 24 && ISO_UTC.test(raw)) return raw;
      return normalizeDatetime(String(raw)) ?? String(raw);
    case 'json':
      // pg has already parsed jsonb (a JSON string arrives as a JS string); SQLite holds JSON text.
      return dialect === 'sqlite' && typeof raw === 'string' ? JSON.parse(raw) : raw;
    default:
      return raw;
  }
}
