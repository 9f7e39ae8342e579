import { type Kysely, sql } from 'kysely';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import type { AnyDb, Database } from '../../db/database.js';
import { isAuthField, withAuthFields } from './auth-collection.js';
import {
  type CachePatch,
  type CacheSettings,
  type CollectionDef,
  cacheSettingsSchema,
  collectionInputSchema,
  collectionPatchSchema,
  type FieldDef,
  type IndexDef,
  storageOf,
} from './collection.js';
import * as ddl from './ddl.js';
import {
  checkDefinition,
  type DefinitionIssue,
  invalidDefinition,
  mergeRules,
  normalizeIndex,
  type RuleChecker,
  zodIssues,
} from './definition-checks.js';
import { toDbValue } from './field-values.js';

const TABLE = '_gw_collections';
const DATA_CONFLICTS = new Set([
  'DB_ERR_UNIQUE_VIOLATION',
  'DB_ERR_FOREIGN_KEY_VIOLATION',
  'DB_ERR_NOT_NULL_VIOLATION',
  'DB_ERR_CHECK_VIOLATION',
]);
const VERSION_KEY = 'schema_version';
/** Advisory lock serializing schema changes across PostgreSQL nodes. */
const PG_SCHEMA_LOCK = '7374616810041702';
/** How often a node sharing a database with others checks whether the schema changed. */
const POLL_INTERVAL_MS = 1_000;

/**
 * The collections of this instance: their definitions in `_gw_collections`, their tables, and an
 * in-memory copy every request reads. A change (create / update / delete) runs in one
 * transaction: the definitions are re-read inside it (under a lock on PostgreSQL), checked, the
 * DDL applied, the definition stored and `schema_version` bumped; any failure rolls back both the
 * DDL and the definition. Nodes sharing a PostgreSQL database see another node's change within
 * about POLL_INTERVAL_MS (they poll `schema_version`).
 */
export class CollectionRegistry implements Component {
  readonly name = 'collections';
  readonly #database: Database;
  readonly #logger: Logger;
  readonly #checkRule: RuleChecker | undefined;
  #byName = new Map<string, CollectionDef>();
  #version = '';
  #poller: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(deps: { database: Database; logger: Logger; checkRule?: RuleChecker }) {
    this.#database = deps.database;
    this.#logger = deps.logger;
    this.#checkRule = deps.checkRule;
  }

  async start(): Promise<void> {
    await this.reload();
    if (this.#database.capabilities.crossProcess) {
      this.#poller = setInterval(() => {
        this.#pollVersion().catch((error) =>
          this.#logger.warn({ err: { message: (error as Error).message } }, 'schema version check failed'),
        );
      }, POLL_INTERVAL_MS);
      this.#poller.unref();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#poller);
  }

  /** Called after the in-memory definitions changed (OpenAPI, caches). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(name: string): CollectionDef | undefined {
    return this.#byName.get(name);
  }

  require(name: string): CollectionDef {
    const def = this.#byName.get(name);
    if (!def) throw notFound(name);
    return def;
  }

  list(): CollectionDef[] {
    return [...this.#byName.values()];
  }

  async reload(): Promise<void> {
    const db = this.#database.kysely as Kysely<AnyDb>;
    const [defs, version] = await Promise.all([readDefinitions(db), readVersion(db)]);
    this.#apply(defs, version);
  }

  async create(input: unknown): Promise<CollectionDef> {
    const parsed = collectionInputSchema.safeParse(input);
    if (!parsed.success) throw invalidDefinition(zodIssues(parsed.error));
    const now = new Date().toISOString();
    let fields = parsed.data.fields;
    if (parsed.data.type === 'auth') {
      const auth = withAuthFields(fields);
      if (auth.issues.length > 0) throw invalidDefinition(auth.issues);
      fields = auth.fields;
    }
    const def: CollectionDef = {
      ...parsed.data,
      fields,
      indexes: parsed.data.indexes.map((index) => normalizeIndex(parsed.data.name, index)),
      created: now,
      updated: now,
    };
    return this.#change(async (trx, current) => {
      if (current.has(def.name))
        throw new GroundworkError('DATA_ERR_COLLECTION_EXISTS', {
          detail: `Collection "${def.name}" exists.`,
        });
      this.#check(def, [...current.values()]);
      await ddl.createCollectionTable(trx, this.#database.dialect, def);
      current.set(def.name, def);
      return def;
    });
  }

  async update(name: string, input: unknown): Promise<CollectionDef> {
    const parsed = collectionPatchSchema.safeParse(input);
    if (!parsed.success) throw invalidDefinition(zodIssues(parsed.error));
    const patch = parsed.data;
    const dialect = this.#database.dialect;
    return this.#change(async (trx, current) => {
      const before = current.get(name);
      if (!before) throw notFound(name);
      const others = [...current.values()].filter((c) => c.name !== name);
      const issues: DefinitionIssue[] = [];
      let fields: FieldDef[] = [...before.fields];
      let indexes: IndexDef[] = [...before.indexes];

      for (const [i, indexName] of patch.dropIndexes.entries()) {
        if (!indexes.some((x) => x.name === indexName))
          issues.push({
            path: `dropIndexes.${i}`,
            code: 'unknown_index',
            message: `no declared index "${indexName}"`,
          });
        indexes = indexes.filter((x) => x.name !== indexName);
      }
      for (const [i, fieldName] of patch.dropFields.entries()) {
        if (isAuthField(before, fieldName)) issues.push(authFieldIssue(`dropFields.${i}`, fieldName));
        if (!fields.some((f) => f.name === fieldName))
          issues.push({
            path: `dropFields.${i}`,
            code: 'unknown_field',
            message: `no field "${fieldName.slice(0, 64)}"`,
          });
        const user = indexes.find((x) => x.fields.includes(fieldName));
        if (user)
          throw conflict(
            `Field "${fieldName}" is used by index "${user.name}"; drop the index in the same change first.`,
          );
        fields = fields.filter((f) => f.name !== fieldName);
      }
      for (const [i, { from, to }] of patch.renameFields.entries()) {
        if (isAuthField(before, from)) issues.push(authFieldIssue(`renameFields.${i}.from`, from));
        const at = fields.findIndex((f) => f.name === from);
        const field = fields[at];
        if (!field) {
          issues.push({
            path: `renameFields.${i}.from`,
            code: 'unknown_field',
            message: `no field "${from.slice(0, 64)}"`,
          });
          continue;
        }
        fields[at] = { ...field, name: to };
        indexes = indexes.map((x) => ({ ...x, fields: x.fields.map((f) => (f === from ? to : f)) }));
      }
      fields.push(...patch.addFields);
      const addedIndexes = patch.addIndexes.map((index) => normalizeIndex(name, index));
      indexes.push(...addedIndexes);
      if (issues.length > 0) throw invalidDefinition(issues);
      const after: CollectionDef = {
        ...before,
        fields,
        indexes,
        rules: mergeRules(before.rules, patch.rules),
        cache: mergeCache(before.cache, patch.cache),
        updated: new Date().toISOString(),
      };
      this.#check(after, others);

      // DDL, in the order that keeps every intermediate state valid.
      for (const indexName of patch.dropIndexes) await ddl.dropIndex(trx, indexName);
      for (const fieldName of patch.dropFields) {
        const field = before.fields.find((f) => f.name === fieldName);
        if (field) await ddl.dropColumn(trx, name, field);
      }
      for (const { from, to } of patch.renameFields) {
        const field = before.fields.find((f) => f.name === from);
        if (!field) continue;
        for (const index of ddl.implicitIndexes(name, field)) await ddl.dropIndex(trx, index.name);
        await ddl.renameColumn(trx, name, from, to);
        for (const index of ddl.implicitIndexes(name, { ...field, name: to }))
          await ddl.createIndex(trx, name, index);
      }
      const nonEmpty = patch.addFields.length > 0 && (await ddl.hasRows(trx, name));
      for (const field of patch.addFields) {
        const fallback = 'default' in field ? field.default : undefined;
        if (field.required && nonEmpty && fallback === undefined)
          throw conflict(
            `Field "${field.name}" is required and has no default, but the collection has records.`,
          );
        await ddl.addColumn(trx, dialect, name, field);
        if (nonEmpty && fallback !== undefined) {
          await trx
            .updateTable(name)
            .set({ [field.name]: toDbValue(storageOf(field), fallback, dialect) })
            .execute();
        }
      }
      for (const index of addedIndexes) await ddl.createIndex(trx, name, index);
      current.set(name, after);
      return after;
    });
  }

  async delete(name: string): Promise<void> {
    await this.#change(async (trx, current) => {
      if (!current.has(name)) throw notFound(name);
      const referrer = [...current.values()].find(
        (c) => c.name !== name && c.fields.some((f) => f.type === 'relation' && f.collection === name),
      );
      if (referrer)
        throw conflict(`Collection "${referrer.name}" has a relation to "${name}"; drop that field first.`);
      await ddl.dropCollectionTable(trx, name);
      current.delete(name);
      return undefined;
    });
  }

  #check(def: CollectionDef, others: readonly CollectionDef[]): void {
    const issues = [...checkDefinition(def, others, this.#checkRule), ...cacheIssues(def)];
    if (issues.length > 0) throw invalidDefinition(issues);
  }

  /** Runs a schema change in one locked transaction and publishes the new definitions after commit. */
  async #change<T>(
    work: (trx: Kysely<AnyDb>, current: Map<string, CollectionDef>) => Promise<T>,
  ): Promise<T> {
    const database = this.#database;
    let committed: { defs: CollectionDef[]; version: string } | undefined;
    const result = await database.transaction(async (trx) => {
      try {
        return await run(trx as unknown as Kysely<AnyDb>);
      } catch (error) {
        // The data refuses the change (duplicates under a new unique index, rows referencing …).
        if (error instanceof GroundworkError && DATA_CONFLICTS.has(error.code))
          throw conflict(
            `The change conflicts with existing records (${error.title.toLowerCase()}); nothing was changed.`,
          );
        throw error;
      }
    });
    if (committed) this.#apply(committed.defs, committed.version);
    return result;

    async function run(db: Kysely<AnyDb>): Promise<T> {
      if (database.dialect === 'postgres')
        await sql`select pg_advisory_xact_lock(${PG_SCHEMA_LOCK}::bigint)`.execute(db);
      const current = new Map((await readDefinitions(db)).map((d) => [d.name, d]));
      // The work replaces the definitions it changes (new objects); only those rows are written.
      const before = new Map(current);
      const value = await work(db, current);
      for (const name of before.keys())
        if (!current.has(name)) await db.deleteFrom(TABLE).where('name', '=', name).execute();
      for (const def of current.values()) {
        if (before.get(def.name) === def) continue;
        const definition = JSON.stringify({
          name: def.name,
          type: def.type,
          fields: def.fields,
          indexes: def.indexes,
          rules: def.rules,
          cache: def.cache,
        });
        if (before.has(def.name)) {
          await db
            .updateTable(TABLE)
            .set({ definition, updated: def.updated })
            .where('name', '=', def.name)
            .execute();
        } else {
          await db
            .insertInto(TABLE)
            .values({ name: def.name, definition, created: def.created, updated: def.updated })
            .execute();
        }
      }
      const version = `${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
      await db.deleteFrom('_gw_meta').where('key', '=', VERSION_KEY).execute();
      await db.insertInto('_gw_meta').values({ key: VERSION_KEY, value: version }).execute();
      committed = { defs: [...current.values()], version };
      return value;
    }
  }

  async #pollVersion(): Promise<void> {
    const version = await readVersion(this.#database.kysely as Kysely<AnyDb>);
    if (version !== this.#version) await this.reload();
  }

  #apply(defs: readonly CollectionDef[], version: string): void {
    this.#byName = new Map(defs.map((d) => [d.name, d]));
    this.#version = version;
    for (const listener of this.#listeners) listener();
  }
}

async function readDefinitions(db: Kysely<AnyDb>): Promise<CollectionDef[]> {
  const rows = await db.selectFrom(TABLE).selectAll().orderBy('created').orderBy('name').execute();
  return rows.map((row) => {
    const stored = JSON.parse(String(row.definition)) as Omit<CollectionDef, 'created' | 'updated'>;
    return {
      ...stored,
      type: stored.type ?? 'base',
      created: String(row.created),
      updated: String(row.updated),
    };
  });
}

async function readVersion(db: Kysely<AnyDb>): Promise<string> {
  const row = await db
    .selectFrom('_gw_meta')
    .select('value')
    .where('key', '=', VERSION_KEY)
    .executeTakeFirst();
  return row ? String(row.value) : '';
}

/** Applies a `cache` change: `null` removes the settings, an object merges into them (or creates them). */
function mergeCache(
  current: CacheSettings | undefined,
  patch: CachePatch | null | undefined,
): CacheSettings | undefined {
  if (patch === undefined) return current;
  if (patch === null) return undefined;
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else if (value !== undefined) merged[key] = value;
  }
  return cacheSettingsSchema.parse(merged);
}

/**
 * `public` HTTP caching lets shared caches hand one caller's response to another: only for
 * collections every caller may list and view alike (rules `""`).
 */
function cacheIssues(def: CollectionDef): DefinitionIssue[] {
  if (def.cache?.httpCache?.visibility !== 'public') return [];
  if (def.rules.list?.trim() === '' && def.rules.view?.trim() === '') return [];
  return [
    {
      path: 'cache.httpCache.visibility',
      code: 'public_protected',
      message:
        'public HTTP caching needs list and view rules "" (anyone); use "private" for rule-protected data',
    },
  ];
}

function authFieldIssue(path: string, field: string): DefinitionIssue {
  return { path, code: 'protected_field', message: `"${field}" is managed by auth and cannot change` };
}

function notFound(name: string): GroundworkError {
  return new GroundworkError('DATA_ERR_COLLECTION_NOT_FOUND', {
    detail: `No collection "${name.slice(0, 64)}".`,
  });
}

function conflict(detail: string): GroundworkError {
  return new GroundworkError('DATA_ERR_SCHEMA_CONFLICT', { detail });
}
