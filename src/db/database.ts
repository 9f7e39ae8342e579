import { type CompiledQuery, type IsolationLevel, Kysely, sql, type Transaction } from 'kysely';
import { GroundworkError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import { createPostgresDialect, translatePostgresError } from './dialects/postgres.js';
import {
  beginImmediate,
  createSqliteDialect,
  sqlitePathFromUrl,
  translateSqliteError,
} from './dialects/sqlite.js';
import { type DriverBoundary, withDriverBoundary } from './driver-boundary.js';

export type DialectName = 'sqlite' | 'postgres';

export interface DatabaseOptions {
  url: string;
  poolMax?: number;
  connectTimeoutMs?: number;
  /** PostgreSQL: prepare hot queries per connection (named statements). Default true. */
  preparedStatements?: boolean;
  busyTimeoutMs?: number;
  logger?: Logger;
}

/**
 * What a dialect can do, declared here once and never tested by dialect name elsewhere.
 * `concurrentTransactions`: several transactions can be open at once (PostgreSQL's pool);
 * SQLite runs one at a time on its single connection.
 */
export interface DatabaseCapabilities {
  readonly concurrentTransactions: boolean;
  readonly crossProcess: boolean;
}

export type AnyDb = Record<string, Record<string, unknown>>;

export type QueryObserver = (query: { sql: string; parameters: readonly unknown[] }) => void;

/**
 * The database block: one interface over SQLite (embedded) and PostgreSQL (scaled). Queries are
 * built with Kysely, so no SQL is assembled from strings with user data. Every engine error is
 * a GroundworkError (DB_ERR_*) by the time it leaves here.
 *
 * @example
 *   const db = new Database({ url: 'sqlite://./data/app.db' });
 *   await db.start();
 *   await db.transaction(async (trx) => trx.insertInto('t').values({ id: 1 }).execute());
 */
export class Database<DB = AnyDb> implements Component {
  readonly name = 'database';
  readonly dialect: DialectName;
  readonly capabilities: DatabaseCapabilities;
  readonly kysely: Kysely<DB>;
  readonly #boundary: DriverBoundary;
  readonly #selectArrays: (query: CompiledQuery) => Promise<unknown[][]>;
  readonly #observers = new Set<QueryObserver>();
  #closed = false;

  constructor(options: DatabaseOptions) {
    const url = options.url;
    if (/^sqlite:/.test(url)) {
      this.dialect = 'sqlite';
      this.capabilities = { concurrentTransactions: false, crossProcess: false };
      const sqlite = createSqliteDialect({
        path: sqlitePathFromUrl(url),
        busyTimeoutMs: options.busyTimeoutMs ?? 5_000,
      });
      this.#boundary = withDriverBoundary(sqlite.dialect, {
        translate: translateSqliteError,
        begin: beginImmediate,
      });
      // Holding Kysely's connection (its mutex) keeps the read out of another caller's transaction.
      this.#selectArrays = (query) =>
        this.kysely.connection().execute(async () => {
          try {
            return sqlite.selectArrays(query.sql, query.parameters);
          } catch (error) {
            throw translateSqliteError(error);
          }
        });
    } else if (/^postgres(ql)?:\/\//.test(url)) {
      this.dialect = 'postgres';
      this.capabilities = { concurrentTransactions: true, crossProcess: true };
      const postgres = createPostgresDialect({
        url,
        poolMax: options.poolMax ?? 10,
        connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
        preparedStatements: options.preparedStatements ?? true,
        ...(options.logger ? { logger: options.logger } : {}),
      });
      this.#boundary = withDriverBoundary(postgres.dialect, { translate: translatePostgresError });
      this.#selectArrays = async (query) => {
        try {
          return await postgres.selectArrays(query.sql, query.parameters);
        } catch (error) {
          throw translatePostgresError(error);
        }
      };
    } else {
      throw new GroundworkError('DB_ERR_UNSUPPORTED_URL', {
        detail: `Unsupported database URL scheme in "${url.split(':')[0]}:…"; use sqlite:// or postgres://`,
      });
    }
    this.kysely = new Kysely<DB>({
      dialect: this.#boundary.dialect,
      log: (event) => {
        if (this.#observers.size === 0) return;
        for (const observer of this.#observers)
          observer({ sql: event.query.sql, parameters: event.query.parameters });
      },
    });
  }

  /**
   * Calls `observer` with every statement executed from now on (tests count queries and check
   * that values travel as parameters). Returns a function that stops observing.
   */
  observeQueries(observer: QueryObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /**
   * Runs a compiled SELECT outside any transaction and returns its rows as arrays of column
   * values in select-list order: no object per row (pg's `rowMode: 'array'`, better-sqlite3's raw
   * mode), for hot reads that map columns by position. Observers see it like any other statement;
   * errors are GroundworkErrors (DB_ERR_*).
   */
  async selectArrays(query: CompiledQuery): Promise<unknown[][]> {
    if (this.#closed) throw new GroundworkError('DB_ERR_CLOSED', { detail: 'The database has been closed.' });
    for (const observer of this.#observers) observer({ sql: query.sql, parameters: query.parameters });
    return this.#selectArrays(query);
  }

  /** Opens a connection once, so a bad URL or a down server fails start-up with DB_ERR_CONNECTION. */
  async start(): Promise<void> {
    await sql`select 1`.execute(this.kysely);
  }

  /**
   * Runs `work` in a transaction: committed when it resolves, rolled back when it throws (the
   * error is rethrown). PostgreSQL honours `isolation`; SQLite transactions are always
   * serializable (one writer at a time).
   */
  transaction<T>(
    work: (trx: Transaction<DB>) => Promise<T>,
    options: { isolation?: IsolationLevel } = {},
  ): Promise<T> {
    let builder = this.kysely.transaction();
    if (options.isolation && this.dialect === 'postgres')
      builder = builder.setIsolationLevel(options.isolation);
    return builder.execute(work);
  }

  /** Readiness: undefined when a trivial query succeeds within `timeoutMs`, else the reason. */
  async check(timeoutMs = 2_000): Promise<string | undefined> {
    if (this.#closed) return 'closed';
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sql`select 1`.execute(this.kysely),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return undefined;
    } catch (error) {
      return error instanceof GroundworkError ? error.title : (error as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#boundary.close();
  }
}
