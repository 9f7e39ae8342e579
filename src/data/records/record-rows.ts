import type { DialectName } from '../../db/database.js';
import { type CollectionDef, type FieldDef, storageOf } from '../collections/collection.js';
import { VERSION_COLUMN } from '../collections/ddl.js';
import { fromDbValue, toDbValue } from '../collections/field-values.js';

/** A record as the API returns it: system fields, then the collection's fields in order. */
export type ApiRecord = Record<string, unknown> & { id: string; created: string; updated: string };

export interface StoredRecord {
  record: ApiRecord;
  version: number;
}

/** Converts a row as the driver returned it into the API record and its version. */
export function rowToRecord(
  def: CollectionDef,
  row: Record<string, unknown>,
  dialect: DialectName,
): StoredRecord {
  const record: ApiRecord = {
    id: String(row.id),
    created: fromDbValue('datetime', row.created, dialect) as string,
    updated: fromDbValue('datetime', row.updated, dialect) as string,
  };
  for (const field of def.fields)
    record[field.name] = fromDbValue(storageOf(field), row[field.name], dialect);
  return { record, version: Number(row[VERSION_COLUMN]) };
}

/** Column values for an insert or update from validated API values. */
export function valuesToRow(
  fields: readonly FieldDef[],
  values: Readonly<Record<string, unknown>>,
  dialect: DialectName,
): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const field of fields) {
    if (Object.hasOwn(values, field.name))
      row[field.name] = toDbValue(storageOf(field), values[field.name], dialect);
  }
  return row;
}

/**
 * The strong ETag of a record: its version (incremented by every write) and its update time, so a
 * record deleted and re-created under the same id never repeats an ETag.
 */
export function etagOf(stored: StoredRecord): string {
  return `"${stored.version}-${Date.parse(stored.record.updated).toString(36)}"`;
}

/** RFC 9110 §13.1.1 If-Match: true when the header allows the write to proceed. */
export function ifMatchAllows(header: string | undefined, etag: string): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  if (value === '*') return true;
  return value.split(',').some((candidate) => candidate.trim() === etag);
}

/** RFC 9110 §13.1.2 If-None-Match for GET: true when the client's copy is current (→ 304). */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = header.trim();
  if (value === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return value.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === opaque);
}
