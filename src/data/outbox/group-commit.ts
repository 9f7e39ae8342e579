import type { Kysely } from 'kysely';
import { GroundworkError } from '../../core/errors.js';
import type { AnyDb, Database } from '../../db/database.js';
import type { CommittedChange, Outbox, RowWrite } from './outbox.js';

/**
 * Group commit of single-row writes known in full beforehand (record creates from
 * `RecordWriter.prepareBlindCreate`), the technique behind PostgreSQL's `commit_delay` and batching
 * producers: writes submitted while a batch is in flight, or within the same event-loop turn
 * (collected until `setImmediate`), are written together in ONE transaction with their outbox
 * rows — on PostgreSQL one statement (`Outbox.insertManyWithEvents`), on SQLite one
 * BEGIN … COMMIT around a few multi-row inserts (`Outbox.insertManyInTransaction`). The work a
 * commit costs (round trips, planning, the commit-order lock, WAL writes) is paid once per batch
 * instead of once per write. One batch is in flight at a time; the next one starts after it.
 *
 * Guarantees, per write, as if it ran alone:
 * - its promise settles only after the commit that holds its row (or with its own error);
 * - its outbox seq follows submission order within a batch, and batches commit one after another
 *   under the outbox's commit-order lock, so seq order is commit order;
 * - when a batch fails on a row's content (a unique value, say), every write of that batch runs
 *   again on its own, in submission order, so each gets exactly the success or error it would have
 *   got alone. Errors about the database itself (connection lost, closed, busy) fail the whole
 *   batch with that error: each write would have met it alone too.
 */
export class GroupCommit {
  readonly #database: Database;
  readonly #outbox: Outbox;
  readonly #maxRows: number;
  readonly #maxInFlight: number;
  readonly #queue: Pending[] = [];
  #inFlight = 0;
  #inFlightRows = 0;
  #scheduled = false;
  #batches = 0;

  constructor(deps: { database: Database; outbox: Outbox; maxRows?: number; maxInFlight?: number }) {
    this.#database = deps.database;
    this.#outbox = deps.outbox;
    this.#maxRows = deps.maxRows ?? DEFAULT_MAX_ROWS;
    // One batch at a time on both engines: batches commit one after another anyway (SQLite has one
    // writer; PostgreSQL's outbox lock orders them), and on PostgreSQL a second batch in flight
    // measured no less CPU and a worse p99 (bench/profile-data-write.ts).
    this.#maxInFlight = deps.maxInFlight ?? 1;
  }

  /** Writes not yet committed: queued plus in flight (tests and metrics). */
  get pending(): number {
    return this.#queue.length + this.#inFlightRows;
  }

  /** Batches written so far, a batch of one included (tests and metrics). */
  get batches(): number {
    return this.#batches;
  }

  /** Writes `write` with its outbox event; resolves with the committed change after its commit. */
  submit(write: RowWrite): Promise<CommittedChange> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#queue.length > 0 && this.#inFlight < this.#maxInFlight) this.#start(this.#take());
    });
  }

  /** The next batch: at most maxRows writes and PostgreSQL's parameter limit. */
  #take(): Pending[] {
    let params = 1;
    let n = 0;
    while (n < this.#queue.length && n < this.#maxRows) {
      const next = (this.#queue[n] as Pending).write;
      params += Object.keys(next.row).length + 5;
      if (n > 0 && params > MAX_PARAMETERS) break;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  #start(batch: Pending[]): void {
    this.#inFlight++;
    this.#inFlightRows += batch.length;
    this.#batches++;
    void this.#run(batch).finally(() => {
      this.#inFlight--;
      this.#inFlightRows -= batch.length;
      this.#schedule();
    });
  }

  async #run(batch: readonly Pending[]): Promise<void> {
    if (batch.length === 1) return this.#alone(batch[0] as Pending);
    let changes: CommittedChange[];
    try {
      changes = await this.#together(batch.map((p) => p.write));
    } catch (error) {
      if (!rowSpecific(error)) {
        for (const p of batch) p.reject(error);
        return;
      }
      for (const p of batch) await this.#alone(p);
      return;
    }
    for (const [i, p] of batch.entries()) p.resolve(changes[i] as CommittedChange);
  }

  async #alone(p: Pending): Promise<void> {
    try {
      const [change] = await this.#together([p.write]);
      p.resolve(change as CommittedChange);
    } catch (error) {
      p.reject(error);
    }
  }

  /** All of `writes` in one transaction; their changes in order. */
  #together(writes: readonly RowWrite[]): Promise<CommittedChange[]> {
    if (this.#database.dialect === 'postgres') return this.#outbox.insertManyWithEvents(writes);
    return this.#database.transaction((trx) =>
      this.#outbox.insertManyInTransaction(trx as unknown as Kysely<AnyDb>, writes),
    );
  }
}

interface Pending {
  write: RowWrite;
  resolve: (change: CommittedChange) => void;
  reject: (error: unknown) => void;
}

/** Rows per batch: enough for a burst of concurrent creates, few enough to keep a batch short. */
const DEFAULT_MAX_ROWS = 128;
/** PostgreSQL's limit on a statement's parameters (a 16-bit count in the Bind message). */
const MAX_PARAMETERS = 65_535;

/**
 * Errors a row's content can cause: the batch is retried write by write. Anything else (the
 * database unreachable, closed or busy, or not a translated error at all) is the same for every
 * write of the batch — and after a lost connection a retry could write a row twice.
 */
const ROW_ERRORS = new Set([
  'DB_ERR_UNIQUE_VIOLATION',
  'DB_ERR_FOREIGN_KEY_VIOLATION',
  'DB_ERR_NOT_NULL_VIOLATION',
  'DB_ERR_CHECK_VIOLATION',
  'DB_ERR_QUERY',
]);

function rowSpecific(error: unknown): boolean {
  return error instanceof GroundworkError && ROW_ERRORS.has(error.code);
}
