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

/** The columns `arrayRowReader` reads a record from, in order: system columns, then the fields. */
export function recordColumns(def: CollectionDef): string[] {
  return ['id', 'created', 'updated', VERSION_COLUMN, ...def.fields.map((field) => field.name)];
}

type ArrayRowReader = (row: readonly unknown[]) => StoredRecord;

/** Per definition object (a changed collection is a new object, so a stale reader is never used). */
const arrayReaders = new WeakMap<CollectionDef, Partial<Record<DialectName, ArrayRowReader>>>();

/**
 * `rowToRecord` for a row read as an array of the `recordColumns(def)` values (see
 * `Database.selectArrays`): the same record, same keys in the same order, without the driver's
 * per-row object. Built once per collection definition and dialect.
 */
export function arrayRowReader(def: CollectionDef, dialect: DialectName): ArrayRowReader {
  let byDialect = arrayReaders.get(def);
  if (byDialect === undefined) {
    byDialect = {};
    arrayReaders.set(def, byDialect);
  }
  const cached = byDialect[dialect];
  if (cached !== undefined) return cached;
  const fields = def.fields.map((field) => ({ name: field.name, storage: storageOf(field) }));
  const first = 4; // id, created, updated, _version
  const reader: ArrayRowReader = (row) => {
    const record: ApiRecord = {
      id: String(row[0]),
      created: fromDbValue('datetime', row[1], dialect) as string,
      updated: fromDbValue('datetime', row[2], dialect) as string,
    };
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] as (typeof fields)[number];
      record[field.name] = fromDbValue(field.storage, row[first + i], dialect);
    }
    return { record, version: Number(row[3]) };
  };
  byDialect[dialect] = reader;
  return reader;
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
