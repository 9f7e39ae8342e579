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
import type { DialectName } from '../../db/database.js';
import { type CollectionDef, collectionInputSchema } from '../collections/collection.js';
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
