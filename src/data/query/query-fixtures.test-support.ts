import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { AnyDb, Database, DialectName } from '../../db/database.js';
import {
  type CollectionDef,
  collectionInputSchema,
  fieldsByName,
  storageOf,
} from '../collections/collection.js';
import { columnType, storageColumnType } from '../collections/ddl.js';
import { fromDbValue, toDbValue } from '../collections/field-values.js';
import type { QueryContext } from './field-ref.js';

/**
 * Two collections covering every field type and storage class, shared by the compiler unit tests
 * and `test/data/query.conformance.test.ts` (which creates matching tables by hand).
 * (`.test-support.ts`: imported by tests only.)
 */
function define(input: unknown): CollectionDef {
  const parsed = collectionInputSchema.parse(input);
  return {
    name: parsed.name,
    type: parsed.type,
    fields: parsed.fields,
    indexes: [],
    rules: parsed.rules,
    created: '2024-01-01T00:00:00.000Z',
    updated: '2024-01-01T00:00:00.000Z',
  };
}

export const authorsDef = define({
  name: 'authors',
  fields: [
    { name: 'name', type: 'text' },
    { name: 'age', type: 'number', integer: true },
    { name: 'rating', type: 'number' },
    { name: 'active', type: 'boolean' },
    { name: 'born', type: 'datetime' },
    { name: 'meta', type: 'json' },
    { name: 'roles', type: 'select', values: ['admin', 'editor', 'guest'], multiple: true },
    { name: 'mentor', type: 'relation', collection: 'authors' },
  ],
});

export const postsDef = define({
  name: 'posts',
  fields: [
    { name: 'title', type: 'text' },
    { name: 'views', type: 'number', integer: true },
    { name: 'score', type: 'number' },
    { name: 'published', type: 'boolean' },
    { name: 'published_at', type: 'datetime' },
    { name: 'meta', type: 'json' },
    { name: 'tags', type: 'select', values: ['news', 'tech', 'a%b', 'x_y'], multiple: true },
    { name: 'author', type: 'relation', collection: 'authors' },
    { name: 'coauthors', type: 'relation', collection: 'authors', multiple: true },
    { name: 'owner', type: 'relation', collection: 'authors' },
    { name: 'contact', type: 'email' },
  ],
});

export const collections: ReadonlyMap<string, CollectionDef> = new Map([
  ['authors', authorsDef],
  ['posts', postsDef],
]);

export function queryContext(
  dialect: DialectName,
  auth: Record<string, unknown> = {},
  collection: CollectionDef = postsDef,
): QueryContext {
  return {
    dialect,
    collection,
    resolve: (name) => collections.get(name),
    auth,
    now: () => new Date('2025-06-01T12:00:00.000Z'),
  };
}

/** A Kysely that only compiles queries (no connection), per dialect. */
export function compilerFor(dialect: DialectName): Kysely<Record<string, Record<string, unknown>>> {
  const [adapter, compiler] =
    dialect === 'sqlite'
      ? [new SqliteAdapter(), () => new SqliteQueryCompiler()]
      : [new PostgresAdapter(), () => new PostgresQueryCompiler()];
  return new Kysely({
    dialect: {
      createAdapter: () => adapter,
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) =>
        dialect === 'sqlite' ? new SqliteIntrospector(db) : new PostgresIntrospector(db),
      createQueryCompiler: compiler,
    },
  });
}

export type Row = Record<string, unknown>;
const STAMP = '2024-01-01T00:00:00.000Z';

/** Creates `def`'s table by hand (not by the collections DDL), with the storage column types. */
export async function createTable(db: Database<AnyDb>, def: CollectionDef): Promise<void> {
  const datetime = storageColumnType('datetime', db.dialect);
  let table = db.kysely.schema
    .createTable(def.name)
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('created', datetime, (c) => c.notNull())
    .addColumn('updated', datetime, (c) => c.notNull());
  for (const field of def.fields) {
    const single = field.type === 'relation' && !field.multiple;
    table = table.addColumn(field.name, columnType(field, db.dialect), (c) =>
      single ? c.references(`${field.collection}.id`) : c,
    );
  }
  await table.execute();
}

/** Inserts API-form records: each value converted as the records service would store it. */
export async function insert(
  db: Database<AnyDb>,
  def: CollectionDef,
  records: readonly Row[],
): Promise<void> {
  const fields = fieldsByName(def);
  const rows = records.map((record) => {
    const row: Row = { created: STAMP, updated: STAMP };
    for (const [name, value] of Object.entries(record)) {
      const field = fields.get(name);
      if (!field) throw new Error(`fixture: no field ${name}`);
      row[name] = toDbValue(storageOf(field), value, db.dialect);
    }
    return row;
  });
  for (const row of rows) await db.kysely.insertInto(def.name).values(row).execute();
}

export function toRecord(def: CollectionDef, row: Row, dialect: DialectName): Row {
  const record: Row = {};
  for (const [name, field] of fieldsByName(def))
    record[name] = fromDbValue(storageOf(field), row[name], dialect);
  return record;
}

/** Records in API form; fields left out are null. */
export const AUTHORS: Row[] = [
  {
    id: 'a1',
    name: 'Ada Lovelace',
    age: 36,
    rating: 4.5,
    active: true,
    born: '1815-12-10T00:00:00.000Z',
    meta: { lang: 'en', score: 10 },
    roles: ['admin', 'editor'],
    mentor: null,
  },
  {
    id: 'a2',
    name: 'Bob_100%',
    age: null,
    rating: null,
    active: false,
    meta: { lang: 5 },
    roles: [],
    mentor: 'a1',
  },
  { id: 'a3', name: null, age: 20, rating: -1.25, born: '2000-01-01T00:00:00.000Z', mentor: 'a1' },
  { id: 'a4', name: 'Émile', age: 50, meta: [1, 2, 3], roles: ['guest'], mentor: 'a2' },
];

export const POSTS: Row[] = [
  {
    id: 'p01',
    title: 'Hello World',
    views: 10,
    score: 1.5,
    published: true,
    published_at: '2024-01-01T00:00:00.000Z',
    meta: { a: { b: 5 }, s: 'abc', flag: true, n: null },
    tags: ['news', 'tech'],
    author: 'a1',
    coauthors: ['a2', 'a3'],
    owner: 'a1',
    contact: 'ada@example.com',
  },
  {
    id: 'p02',
    title: '50% off_sale',
    views: 0,
    score: -2,
    published: false,
    published_at: '2024-06-15T12:30:00.000Z',
    meta: { a: { b: '5' }, s: 'ABC', flag: false },
    tags: ['a%b'],
    author: 'a2',
    coauthors: [],
    owner: 'a2',
  },
  { id: 'p03' },
  {
    id: 'p04',
    title: 'hello there',
    views: 10,
    score: 1.5,
    published: true,
    published_at: '2025-01-01T00:00:00.000Z',
    meta: { a: { b: 7.5 }, s: 12, arr: [1, 2] },
    tags: ['x_y'],
    author: 'a1',
    coauthors: ['a4'],
    owner: 'a3',
    contact: 'x@y.z',
  },
  {
    id: 'p05',
    title: 'back\\slash',
    views: -5,
    score: 1e10,
    published: false,
    published_at: '1999-12-31T23:59:59.999Z',
    meta: 5,
    tags: ['news'],
    author: 'a3',
    coauthors: ['a1'],
  },
  {
    id: 'p06',
    title: 'Ünïcode ß',
    views: 9007199254740991,
    score: 0.1,
    published: true,
    published_at: '2026-01-01T00:00:00.000Z',
    meta: 'just a string',
    tags: [],
    author: 'a4',
    coauthors: ['a1', 'a4'],
    owner: 'a4',
  },
  {
    id: 'p07',
    title: '',
    views: 3,
    score: 3,
    meta: { a: [{ b: 1 }], 0: 'zero' },
    tags: ['tech'],
    author: 'a2',
  },
  { id: 'p08', title: `O'Reilly "quoted"`, views: 1, meta: { a: { b: { c: 1 } }, s: 'abc' }, author: 'a1' },
  { id: 'p09', title: 'ABC', meta: [{ a: 1 }, 'zero'], tags: [] },
];
export const ALL = POSTS.map((p) => p.id as string);
export const except = (...ids: string[]) => ALL.filter((id) => !ids.includes(id));
