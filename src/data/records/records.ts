import { type Expression, type Kysely, type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import { GroundworkError, isGroundworkError } from '../../core/errors.js';
import type { AnyDb, Database } from '../../db/database.js';
import type { Principal } from '../../gateway/principal.js';
import { compileCallerFilter, type RuleDecision, type RuleScope, ruleFor } from '../access/rules.js';
import type { CollectionDef } from '../collections/collection.js';
import type { CollectionRegistry } from '../collections/collection-registry.js';
import { decodeCursor, encodeCursor, keysetCondition } from '../query/cursor.js';
import { applySort, parseSort } from '../query/sort.js';
import { expandRecords } from './expand.js';
import type { ListOptions, ReadOptions } from './read-options.js';
import {
  type ApiRecord,
  arrayRowReader,
  recordColumns,
  rowToRecord,
  type StoredRecord,
} from './record-rows.js';

type ListBase = SelectQueryBuilder<AnyDb, string, Record<string, unknown>>;

export interface ListResult {
  items: Record<string, unknown>[];
  nextCursor: string | null;
  total?: number;
}

/**
 * Record reads: list (filter, sort, keyset or offset pages, optional total) and view, with the
 * caller's access rule compiled into the WHERE clause, then expand and field selection.
 */
export class RecordReader {
  readonly #database: Database;
  readonly #registry: CollectionRegistry;
  readonly #listBases = new WeakMap<CollectionDef, ListBase>();

  constructor(deps: { database: Database; registry: CollectionRegistry }) {
    this.#database = deps.database;
    this.#registry = deps.registry;
  }

  scope(principal: Principal): RuleScope {
    return { principal, dialect: this.#database.dialect, resolve: (name) => this.#registry.get(name) };
  }

  /**
   * `select <record columns> from <collection>`, built once per definition object (a changed
   * collection is a new object): the columns by name, so rows can come back as arrays
   * (`Database.selectArrays`, no per-row object from the driver) and be read by position.
   */
  #listBase(def: CollectionDef) {
    let base = this.#listBases.get(def);
    if (base === undefined) {
      const db = this.#database.kysely as Kysely<AnyDb>;
      base = db.selectFrom(def.name).select(recordColumns(def).map((column) => `${def.name}.${column}`));
      this.#listBases.set(def, base);
    }
    return base;
  }

  async list(def: CollectionDef, options: ListOptions, principal: Principal): Promise<ListResult> {
    const scope = this.scope(principal);
    const rule = ruleFor(def, 'list', scope);
    const db = this.#database.kysely as Kysely<AnyDb>;
    const conditions: Expression<SqlBool>[] = [];
    if (rule.kind === 'where') conditions.push(rule.condition);
    if (options.filter !== undefined && options.filter.trim() !== '')
      conditions.push(compileCallerFilter(def, options.filter, scope));
    const sort = parseSort(options.sort ?? '', def);
    const ctx = { dialect: scope.dialect, collection: def, resolve: scope.resolve, auth: {} };
    const page = [...conditions];
    if (options.cursor !== undefined)
      page.push(keysetCondition(sort, decodeCursor(options.cursor, sort), ctx));

    const finish = (base: ListBase): ListBase => {
      let query = base;
      for (const condition of page) query = query.where(condition);
      query = applySort(query, sort, def.name);
      query = query.limit(options.limit + 1);
      if (options.offset !== undefined) query = query.offset(options.offset);
      return query;
    };
    let more: boolean;
    let stored: StoredRecord[];
    try {
      const rows = await this.#database.selectArrays(finish(this.#listBase(def)).compile());
      more = rows.length > options.limit;
      stored = rows.slice(0, options.limit).map(arrayRowReader(def, scope.dialect));
    } catch (error) {
      // Another node changed the table and this one's definition lags (for up to the registry's
      // poll interval): read `*` as a read by id does, rather than fail on a column now gone.
      if (!isMissingColumn(error)) throw error;
      const rows = await finish(db.selectFrom(def.name).selectAll(def.name) as ListBase).execute();
      more = rows.length > options.limit;
      stored = rows.slice(0, options.limit).map((row) => rowToRecord(def, row, scope.dialect));
    }
    const last = stored.at(-1);
    const nextCursor =
      more && last && options.offset === undefined
        ? encodeCursor(
            sort,
            sort.keys.map((key) => last.record[key.field] ?? null),
          )
        : null;

    let total: number | undefined;
    if (options.total) {
      let count = db.selectFrom(def.name).select(sql<number>`count(*)`.as('n'));
      for (const condition of conditions) count = count.where(condition);
      const row = await count.executeTakeFirstOrThrow();
      total = Number(row.n);
    }
    const items = await this.#shape(
      def,
      stored.map((s) => s.record),
      options,
      principal,
    );
    return total === undefined ? { items, nextCursor } : { items, nextCursor, total };
  }

  /** One record the caller may view, or DATA_ERR_RECORD_NOT_FOUND (denied and missing look alike). */
  async view(def: CollectionDef, id: string, principal: Principal): Promise<StoredRecord> {
    const rule = ruleFor(def, 'view', this.scope(principal));
    const found = await findRecord(this.#database.kysely as Kysely<AnyDb>, this.#database, def, id, rule);
    if (!found) throw recordNotFound(def, id);
    return found;
  }

  async shapeOne(def: CollectionDef, record: ApiRecord, options: ReadOptions, principal: Principal) {
    const [shaped] = await this.#shape(def, [record], options, principal);
    return shaped ?? {};
  }

  async #shape(
    def: CollectionDef,
    records: ApiRecord[],
    options: ReadOptions,
    principal: Principal,
  ): Promise<Record<string, unknown>[]> {
    const db = this.#database.kysely as Kysely<AnyDb>;
    if (options.expand.children.size > 0)
      await expandRecords(db, def, records, options.expand, this.scope(principal), options.expandFields);
    if (!options.fields) return records;
    const fields = options.fields;
    return records.map((record) => {
      const out: Record<string, unknown> = {};
      for (const name of fields) out[name] = record[name];
      if (record.expand !== undefined) out.expand = record.expand;
      return out;
    });
  }
}

/** Reads one row by id under a rule (optionally locking it for a write on PostgreSQL). */
export async function findRecord(
  db: Kysely<AnyDb>,
  database: Pick<Database, 'dialect'>,
  def: CollectionDef,
  id: string,
  rule: RuleDecision,
  lock = false,
): Promise<StoredRecord | undefined> {
  let query = db.selectFrom(def.name).selectAll(def.name).where(`${def.name}.id`, '=', id);
  if (rule.kind === 'where') query = query.where(rule.condition);
  if (lock && database.dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row ? rowToRecord(def, row, database.dialect) : undefined;
}

/** The engine refused a column the definition names (PostgreSQL 42703, SQLite "no such column"). */
function isMissingColumn(error: unknown): boolean {
  if (!isGroundworkError(error) || error.code !== 'DB_ERR_QUERY') return false;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  return (
    cause?.code === '42703' || (typeof cause?.message === 'string' && /no such column/.test(cause.message))
  );
}

export function recordNotFound(def: CollectionDef, id: string): GroundworkError {
  return new GroundworkError('DATA_ERR_RECORD_NOT_FOUND', {
    detail: `No record "${id.slice(0, 64)}" in "${def.name}".`,
  });
}
