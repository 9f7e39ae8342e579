import { type Kysely, sql } from 'kysely';
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

const TABLE = '_gw_outbox';
const PG_OUTBOX_LOCK = '7374616810041703';

export class Outbox {
  readonly #database: Database;
  readonly #logger: Logger;
  readonly #listeners = new Set<ChangeListener>();

  constructor(deps: { database: Database; logger: Logger }) {
    this.#database = deps.database;
    this.#logger = deps.logger;
  }

  /** Appends events inside the caller's write transaction; call once, just before commit. */
  async append(trx: Kysely<AnyDb>, events: readonly ChangeEvent[]): Promise<CommittedChange[]> {
    if (events.length === 0) return [];
    const createdAt = Date.now();
    const rows = events.map((event) => ({
      collection: event.collection,
      record_id: event.recordId,
      op: event.op,
      data: event.data === null ? null : JSON.stringify(event.data),
      old: event.old === null ? null : JSON.stringify(event.old),
      created_at: createdAt,
    }));
    let seqs: number[];
    if (this.#database.dialect === 'postgres') {
      // One statement: take the commit-order lock, then insert (seq is drawn per row, after the lock).
      const values = rows.map(
        (r, i) =>
          sql`(${i}, ${r.collection}, ${r.record_id}, ${r.op}, ${r.data}, ${r.old}, ${r.created_at}::bigint)`,
      );
      const result = await sql<{ seq: string }>`
        insert into ${sql.table(TABLE)} (collection, record_id, op, data, old, created_at)
        select v.collection, v.record_id, v.op, v.data, v.old, v.created_at
        from (select pg_advisory_xact_lock(${PG_OUTBOX_LOCK}::bigint)) as l,
             (values ${sql.join(values)}) as v(i, collection, record_id, op, data, old, created_at)
        order by v.i
        returning seq`.execute(trx);
      seqs = result.rows.map((row) => Number(row.seq));
    } else {
      const result = await trx.insertInto(TABLE).values(rows).returning('seq').execute();
      seqs = result.map((row) => Number(row.seq));
    }
    seqs.sort((a, b) => a - b);
    return events.map((event, i) => ({ ...event, seq: seqs[i] ?? 0, createdAt }));
  }

  /**
   * PostgreSQL: inserts `row` into `table` and appends its event in ONE autocommit statement (a
   * data-modifying CTE; the commit-order lock is taken in it as in `append`): one round trip instead
   * of begin, insert, append, commit. Either both rows commit or neither. For creates known in full
   * beforehand (`RecordWriter.prepareBlindCreate`).
   */
  async insertWithEvent(
    table: string,
    row: Readonly<Record<string, unknown>>,
    event: ChangeEvent,
  ): Promise<CommittedChange> {
    if (this.#database.dialect !== 'postgres') throw new Error('insertWithEvent is PostgreSQL only');
    const createdAt = Date.now();
    const columns = Object.keys(row);
    const result = await sql<{ seq: string }>`
      with rec as (
        insert into ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))})
        values (${sql.join(columns.map((c) => sql`${row[c]}`))})
      )
      insert into ${sql.table(TABLE)} (collection, record_id, op, data, old, created_at)
      select ${event.collection}, ${event.recordId}, ${event.op}, ${event.data === null ? null : JSON.stringify(event.data)},
             ${event.old === null ? null : JSON.stringify(event.old)}, ${createdAt}::bigint
      from (select pg_advisory_xact_lock(${PG_OUTBOX_LOCK}::bigint)) as l
      returning seq`.execute(this.#database.kysely as Kysely<AnyDb>);
    return { ...event, seq: Number(result.rows[0]?.seq ?? 0), createdAt };
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
