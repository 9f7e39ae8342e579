import { CompiledQuery, type Kysely } from 'kysely';
import type { Logger } from '../../core/logger.js';
import type { AnyDb, Database } from '../../db/database.js';

/**
 * The change outbox (transactional outbox pattern): every create/update/delete of a record
 * appends a row to `_gw_outbox` in the same transaction as the change, so an event exists if and
 * only if the change committed. After commit, in-process listeners get the events (realtime,
 * webhooks, cache invalidation and projections build on this; across nodes they will read the
 * table or the bus).
 *
 * Order: `seq` increases in commit order. SQLite runs one write transaction at a time. On
 * PostgreSQL a bigserial alone is not enough (a transaction can take seq 11 and commit before
 * the one holding seq 10), so the append takes a transaction-scoped advisory lock held until
 * commit: writers serialize only for the short tail between their outbox insert and commit, and a
 * reader of `seq > n` never misses a row that commits later with a smaller seq.
 */
export type ChangeOp = 'create' | 'update' | 'delete';

export interface ChangeEvent {
  collection: string;
  recordId: string;
  op: ChangeOp;
  /** The record after the change (create, update); null for delete. */
  data: Record<string, unknown> | null;
  /** The record before the change (update, delete); null for create. */
  old: Record<string, unknown> | null;
}

export interface CommittedChange extends ChangeEvent {
  seq: number;
  createdAt: number;
}

export type ChangeListener = (changes: readonly CommittedChange[]) => void;

/** An event to append, with `JSON.stringify(event.data)` when the caller has it already. */
export interface OutboxEntry {
  event: ChangeEvent;
  dataJson?: string | undefined;
}

/** A row to insert into `table` together with the event that records it. */
export interface RowWrite extends OutboxEntry {
  table: string;
  row: Readonly<Record<string, unknown>>;
}

const TABLE = '_gw_outbox';
/** The key of the transaction-scoped advisory lock that keeps PostgreSQL's outbox seqs in commit order. */
export const PG_OUTBOX_LOCK = '7374616810041703';
const OUTBOX_COLUMNS = 'collection, record_id, op, data, old, created_at';
const OUTBOX_COLUMN_LIST = ['collection', 'record_id', 'op', 'data', 'old', 'created_at'];
const OUTBOX_WIDTH = OUTBOX_COLUMN_LIST.length;

export class Outbox {
  readonly #database: Database;
  readonly #logger: Logger;
  readonly #listeners = new Set<ChangeListener>();

  constructor(deps: { database: Database; logger: Logger }) {
    this.#database = deps.database;
    this.#logger = deps.logger;
  }

  /** Appends events inside the caller's write transaction; call once, just before commit. */
  append(trx: Kysely<AnyDb>, events: readonly ChangeEvent[]): Promise<CommittedChange[]> {
    return this.appendEntries(
      trx,
      events.map((event) => ({ event })),
    );
  }

  /** `append` for events whose data JSON the caller may have already (`RowWrite.dataJson`). */
  async appendEntries(trx: Kysely<AnyDb>, entries: readonly OutboxEntry[]): Promise<CommittedChange[]> {
    if (entries.length === 0) return [];
    const createdAt = Date.now();
    const seqs: number[] = [];
    if (this.#database.dialect === 'postgres') {
      // One statement: take the commit-order lock, then insert (seq is drawn per row, after the lock).
      const params: unknown[] = [];
      for (const entry of entries) pushOutboxValues(params, entry);
      params.push(String(createdAt));
      const result = await trx.executeQuery<{ seq: string }>(
        CompiledQuery.raw(pgInsertManyText([], entries.length), params),
      );
      for (const row of result.rows) seqs.push(Number(row.seq));
      seqs.sort((a, b) => a - b);
    } else {
      // Multi-row inserts (SQLite runs one writer: seqs rise in VALUES order within a statement).
      let at = 0;
      for (const size of sqliteChunks(entries.length, OUTBOX_WIDTH)) {
        const params: unknown[] = [];
        for (let i = at; i < at + size; i++) {
          pushOutboxValues(params, entries[i] as OutboxEntry);
          params.push(createdAt);
        }
        const result = await trx.executeQuery<{ seq: number }>(
          CompiledQuery.raw(sqliteInsertText(TABLE, OUTBOX_COLUMN_LIST, size, ' returning seq'), params),
        );
        for (const row of result.rows) seqs.push(Number(row.seq));
        at += size;
      }
      seqs.sort((a, b) => a - b);
    }
    return entries.map(({ event }, i) => ({ ...event, seq: seqs[i] ?? 0, createdAt }));
  }

  /**
   * PostgreSQL: inserts rows (of one or more tables) and appends their events in ONE autocommit
   * statement — one data-modifying CTE per table with a multi-row VALUES, and one outbox insert
   * whose seqs are drawn in the order of `writes` after the commit-order lock (as in `append`):
   * one round trip instead of begin, inserts, append, commit. All rows commit or none. Returns the
   * committed changes in the order of `writes`. For creates known in full beforehand
   * (`RecordWriter.prepareBlindCreate`, via `GroupCommit`, which bounds the rows: PostgreSQL takes
   * at most 65,535 parameters per statement).
   */
  async insertManyWithEvents(writes: readonly RowWrite[]): Promise<CommittedChange[]> {
    if (this.#database.dialect !== 'postgres') throw new Error('insertManyWithEvents is PostgreSQL only');
    if (writes.length === 0) return [];
    const createdAt = Date.now();
    const groups = groupByShape(writes);
    const params: unknown[] = [];
    for (const group of groups) {
      for (const { row } of group.writes) for (const column of group.columns) params.push(row[column]);
    }
    for (const write of writes) pushOutboxValues(params, write);
    params.push(String(createdAt));
    const text = pgInsertManyText(groups, writes.length);
    const result = await (this.#database.kysely as Kysely<AnyDb>).executeQuery<{ seq: string }>(
      CompiledQuery.raw(text, params),
    );
    const seqs = result.rows.map((row) => Number(row.seq)).sort((a, b) => a - b);
    return writes.map(({ event }, i) => ({ ...event, seq: seqs[i] ?? 0, createdAt }));
  }

  /**
   * SQLite: inserts rows (of one or more tables) and appends their events inside the caller's
   * write transaction, in a few multi-row statements (row counts in powers of two, so each table
   * and column list has a handful of statement texts, prepared once). Returns the changes in the
   * order of `writes`; they are committed when the caller's transaction is.
   */
  async insertManyInTransaction(trx: Kysely<AnyDb>, writes: readonly RowWrite[]): Promise<CommittedChange[]> {
    if (this.#database.dialect !== 'sqlite') throw new Error('insertManyInTransaction is SQLite only');
    for (const { table, columns, writes: rows } of groupByShape(writes)) {
      let at = 0;
      for (const size of sqliteChunks(rows.length, columns.length)) {
        const params: unknown[] = [];
        for (let i = at; i < at + size; i++) {
          const row = (rows[i] as RowWrite).row;
          for (const column of columns) params.push(row[column]);
        }
        await trx.executeQuery(CompiledQuery.raw(sqliteInsertText(table, columns, size, ''), params));
        at += size;
      }
    }
    return this.appendEntries(trx, writes);
  }

  /** Tells listeners about changes that have committed. A failing listener is logged, not rethrown. */
  publish(changes: readonly CommittedChange[]): void {
    if (changes.length === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(changes);
      } catch (error) {
        this.#logger.error({ err: error }, 'outbox listener failed');
      }
    }
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Committed changes after `afterSeq`, oldest first (for consumers catching up). */
  async read(afterSeq: number, limit = 1000): Promise<CommittedChange[]> {
    const rows = await (this.#database.kysely as Kysely<AnyDb>)
      .selectFrom(TABLE)
      .selectAll()
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      seq: Number(row.seq),
      collection: String(row.collection),
      recordId: String(row.record_id),
      op: row.op as ChangeOp,
      data: row.data == null ? null : (JSON.parse(String(row.data)) as Record<string, unknown>),
      old: row.old == null ? null : (JSON.parse(String(row.old)) as Record<string, unknown>),
      createdAt: Number(row.created_at),
    }));
  }
}

/** collection, record_id, op, data, old of an event (created_at is one parameter per statement). */
function pushOutboxValues(params: unknown[], { event, dataJson }: OutboxEntry): void {
  params.push(
    event.collection,
    event.recordId,
    event.op,
    event.data === null ? null : (dataJson ?? JSON.stringify(event.data)),
    event.old === null ? null : JSON.stringify(event.old),
  );
}

/** Writes of one table and column list: one multi-row INSERT. */
interface ShapeGroup {
  table: string;
  columns: string[];
  key: string;
  writes: RowWrite[];
}

/** Writes grouped by table and column list, in order of first appearance. */
function groupByShape(writes: readonly RowWrite[]): ShapeGroup[] {
  const groups: ShapeGroup[] = [];
  let last: ShapeGroup | undefined;
  for (const write of writes) {
    const columns = Object.keys(write.row);
    // Nearly always every write has the shape of the one before: compared without building a key.
    if (!(last && last.table === write.table && sameColumns(last.columns, columns))) {
      const key = `${write.table}\u0000${columns.join('\u0000')}`;
      last = groups.find((g) => g.key === key);
      if (!last) {
        last = { table: write.table, columns, key, writes: [] };
        groups.push(last);
      }
    }
    last.writes.push(write);
  }
  return groups;
}

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const pgTexts = new Map<string, string>();

/**
 * PostgreSQL: the statement for `groups` (each one data-modifying CTE, `insert … values` of its
 * rows) and `events` outbox rows, parameters numbered in the order `insertManyWithEvents` pushes
 * them: every group's row values, then collection, record_id, op, data, old per event, then
 * created_at. The outbox rows are inserted after the commit-order lock, in order (`order by v.i`,
 * so seqs are drawn in that order). Kept per shape and row counts: the same text every time.
 */
function pgInsertManyText(groups: readonly ShapeGroup[], events: number): string {
  const key = `${groups.map((g) => `${g.key}\u0001${g.writes.length}`).join('\u0002')}\u0003${events}`;
  let text = pgTexts.get(key);
  if (text !== undefined) return text;
  let n = 0;
  const ctes = groups.map((group, g) => {
    const tuples: string[] = [];
    for (let r = 0; r < group.writes.length; r++) {
      tuples.push(`(${group.columns.map(() => `$${++n}`).join(', ')})`);
    }
    const columns = group.columns.map(quoteIdent).join(', ');
    return `${g === 0 ? 'rec' : `rec${g}`} as (insert into ${quoteIdent(group.table)} (${columns}) values ${tuples.join(', ')})`;
  });
  const rows: string[] = [];
  for (let i = 0; i < events; i++) rows.push(`(${i}, $${++n}, $${++n}, $${++n}, $${++n}, $${++n})`);
  text = `${ctes.length > 0 ? `with ${ctes.join(', ')} ` : ''}insert into "${TABLE}" (${OUTBOX_COLUMNS})
    select v.collection, v.record_id, v.op, v.data, v.old, $${++n}::bigint
    from (select pg_advisory_xact_lock(${PG_OUTBOX_LOCK}::bigint)) as l,
         (values ${rows.join(', ')}) as v(i, collection, record_id, op, data, old)
    order by v.i
    returning seq`;
  if (pgTexts.size >= 1_000) pgTexts.clear();
  pgTexts.set(key, text);
  return text;
}

/** A quoted SQL identifier (names are validated already; quoting keeps any name from being SQL). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Largest rows per SQLite statement (a power of two). */
const SQLITE_MAX_ROWS = 128;
/** SQLite's default limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
const SQLITE_MAX_PARAMETERS = 32_766;

/** `n` rows split into statements of power-of-two row counts, largest first (50 → 32, 16, 2). */
export function sqliteChunks(n: number, width: number): number[] {
  let max = 1;
  while (max * 2 <= SQLITE_MAX_ROWS && max * 2 * width <= SQLITE_MAX_PARAMETERS) max *= 2;
  const sizes: number[] = [];
  for (let rest = n; rest > 0; ) {
    let size = max;
    while (size > rest) size /= 2;
    sizes.push(size);
    rest -= size;
  }
  return sizes;
}

const sqliteTexts = new Map<string, string>();

/** `insert into "t" ("a", "b") values (?, ?), (?, ?)…` for `rows` rows, kept per table, columns and size. */
function sqliteInsertText(table: string, columns: readonly string[], rows: number, suffix: string): string {
  const key = `${table}\u0000${columns.join('\u0000')}\u0000${rows}${suffix}`;
  let text = sqliteTexts.get(key);
  if (text === undefined) {
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    text = `insert into ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) values ${Array(rows).fill(tuple).join(', ')}${suffix}`;
    if (sqliteTexts.size >= 1_000) sqliteTexts.clear();
    sqliteTexts.set(key, text);
  }
  return text;
}
