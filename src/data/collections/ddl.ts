import { type ColumnDataType, type Kysely, sql } from 'kysely';
import type { AnyDb, DialectName } from '../../db/database.js';
import {
  type CollectionDef,
  defaultIndexName,
  type FieldDef,
  type IndexDef,
  type StorageClass,
  storageOf,
} from './collection.js';

/**
 * The DDL that makes a collection a real table: one column per field, a foreign key per single
 * relation, a unique index per unique field, an index per relation column (for cascades and
 * expands), and every declared index. Runs inside the caller's transaction, so on both dialects
 * a failing step rolls the whole change back. Identifiers are validated names and always quoted.
 */

/** Column holding the record's version; the ETag and If-Match are built on it. */
export const VERSION_COLUMN = '_version';

const COLUMN_TYPES: Record<DialectName, Record<StorageClass, ColumnDataType>> = {
  sqlite: {
    text: 'text',
    integer: 'integer',
    float: 'real',
    boolean: 'integer',
    datetime: 'text',
    json: 'text',
  },
  postgres: {
    text: 'text',
    integer: 'bigint',
    float: 'double precision',
    boolean: 'boolean',
    datetime: 'timestamptz',
    json: 'jsonb',
  },
};

export function storageColumnType(storage: StorageClass, dialect: DialectName): ColumnDataType {
  return COLUMN_TYPES[dialect][storage];
}

export function columnType(field: FieldDef, dialect: DialectName): ColumnDataType {
  return storageColumnType(storageOf(field), dialect);
}

/** Indexes Groundwork adds by itself for a field (unique fields, relation columns). */
export function implicitIndexes(collection: string, field: FieldDef): IndexDef[] {
  const indexes: IndexDef[] = [];
  if (field.unique) {
    indexes.push({
      name: defaultIndexName(collection, [field.name], true),
      fields: [field.name],
      unique: true,
    });
  } else if (field.type === 'relation' && !field.multiple) {
    indexes.push({
      name: defaultIndexName(collection, [field.name], false),
      fields: [field.name],
      unique: false,
    });
  }
  return indexes;
}

export async function createCollectionTable(
  db: Kysely<AnyDb>,
  dialect: DialectName,
  def: CollectionDef,
): Promise<void> {
  const datetime = storageColumnType('datetime', dialect);
  let table = db.schema
    .createTable(def.name)
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('created', datetime, (c) => c.notNull())
    .addColumn('updated', datetime, (c) => c.notNull())
    .addColumn(VERSION_COLUMN, 'integer', (c) => c.notNull().defaultTo(1));
  for (const field of def.fields) {
    table = table.addColumn(field.name, columnType(field, dialect), (c) =>
      field.type === 'relation' && !field.multiple
        ? c.references(`${field.collection}.id`).onDelete(field.onDelete)
        : c,
    );
  }
  await table.execute();
  for (const field of def.fields) {
    for (const index of implicitIndexes(def.name, field)) await createIndex(db, def.name, index);
  }
  for (const index of def.indexes) await createIndex(db, def.name, index);
}

/**
 * The columns of `index` in the database: a non-unique index also ends with `id`, the last key of
 * every list sort (src/data/query/sort.ts), so a list filtered on the index's leading fields and
 * sorted by the next ones (`tag = ? order by n, id`) is read in index order instead of sorting all
 * matches for the tie-breaker. A unique index stays as declared (with `id` it would enforce
 * nothing). The definition keeps the declared fields; indexes are dropped and renamed by name, so
 * indexes created before this (without `id`) keep working, only without that saving.
 */
export function indexColumns(index: IndexDef): string[] {
  return index.unique || index.fields.includes('id') ? [...index.fields] : [...index.fields, 'id'];
}

export async function createIndex(db: Kysely<AnyDb>, table: string, index: IndexDef): Promise<void> {
  let builder = db.schema.createIndex(index.name).on(table).columns(indexColumns(index));
  if (index.unique) builder = builder.unique();
  await builder.execute();
}

export async function dropIndex(db: Kysely<AnyDb>, name: string): Promise<void> {
  await db.schema.dropIndex(name).execute();
}

export async function addColumn(
  db: Kysely<AnyDb>,
  dialect: DialectName,
  table: string,
  field: FieldDef,
): Promise<void> {
  await db.schema
    .alterTable(table)
    .addColumn(field.name, columnType(field, dialect), (c) =>
      field.type === 'relation' && !field.multiple
        ? c.references(`${field.collection}.id`).onDelete(field.onDelete)
        : c,
    )
    .execute();
  for (const index of implicitIndexes(table, field)) await createIndex(db, table, index);
}

export async function dropColumn(db: Kysely<AnyDb>, table: string, field: FieldDef): Promise<void> {
  for (const index of implicitIndexes(table, field)) await dropIndex(db, index.name);
  await db.schema.alterTable(table).dropColumn(field.name).execute();
}

export async function renameColumn(
  db: Kysely<AnyDb>,
  table: string,
  from: string,
  to: string,
): Promise<void> {
  await db.schema.alterTable(table).renameColumn(from, to).execute();
}

export async function dropCollectionTable(db: Kysely<AnyDb>, table: string): Promise<void> {
  await db.schema.dropTable(table).execute();
}

/** Whether the table has at least one row (decides if a required field may be added). */
export async function hasRows(db: Kysely<AnyDb>, table: string): Promise<boolean> {
  const row = await db.selectFrom(table).select(sql<number>`1`.as('one')).limit(1).executeTakeFirst();
  return row !== undefined;
}
