import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { GroundworkError } from '../core/errors.js';

/** Turns an engine error (SQLSTATE, SQLite result code, socket error) into a GroundworkError. */
export type ErrorTranslator = (error: unknown) => GroundworkError;

export interface BoundaryOptions {
  translate: ErrorTranslator;
  /** Replace the dialect's BEGIN (SQLite uses BEGIN IMMEDIATE so writers queue instead of failing). */
  begin?: (connection: DatabaseConnection, settings: TransactionSettings) => Promise<void>;
}

/**
 * Wraps a Kysely dialect so that every error leaving the engine's driver is translated at this
 * boundary: code above it sees only GroundworkError codes, whichever engine is underneath.
 */
export function withDriverBoundary(dialect: Dialect, options: BoundaryOptions): DriverBoundary {
  let driver: BoundaryDriver | undefined;
  return {
    dialect: {
      createAdapter: () => dialect.createAdapter(),
      createIntrospector: (db: Kysely<unknown>) => dialect.createIntrospector(db),
      createQueryCompiler: () => dialect.createQueryCompiler(),
      createDriver: () => {
        driver = new BoundaryDriver(dialect.createDriver(), options);
        return driver;
      },
    },
    close: async () => driver?.shutdown(),
  };
}

export interface DriverBoundary {
  readonly dialect: Dialect;
  /**
   * Releases the engine's connections. Later queries fail with DB_ERR_CLOSED from this boundary
   * (Kysely's own `destroy()` would make them fail with an untranslated error above it).
   */
  close(): Promise<void>;
}

class BoundaryDriver implements Driver {
  readonly #inner: Driver;
  readonly #options: BoundaryOptions;
  readonly #wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>();
  readonly #unwrapped = new WeakMap<DatabaseConnection, DatabaseConnection>();
  #closed = false;

  constructor(inner: Driver, options: BoundaryOptions) {
    this.#inner = inner;
    this.#options = options;
  }

  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.#options.translate(error);
    }
  }

  #raw(connection: DatabaseConnection): DatabaseConnection {
    return this.#unwrapped.get(connection) ?? connection;
  }

  init(): Promise<void> {
    return this.#guard(() => this.#inner.init());
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#guard(() => this.#inner.destroy());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#closed) throw new GroundworkError('DB_ERR_CLOSED', { detail: 'The database has been closed.' });
    const raw = await this.#guard(() => this.#inner.acquireConnection());
    let wrapped = this.#wrapped.get(raw);
    if (!wrapped) {
      const translate = this.#options.translate;
      wrapped = {
        async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
          try {
            return await raw.executeQuery<R>(query);
          } catch (error) {
            throw translate(error);
          }
        },
        async *streamQuery<R>(
          query: CompiledQuery,
          chunkSize?: number,
        ): AsyncIterableIterator<QueryResult<R>> {
          try {
            yield* raw.streamQuery<R>(query, chunkSize);
          } catch (error) {
            throw translate(error);
          }
        },
      };
      this.#wrapped.set(raw, wrapped);
      this.#unwrapped.set(wrapped, raw);
    }
    return wrapped;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const begin = this.#options.begin;
    return this.#guard(() =>
      begin
        ? begin(this.#raw(connection), settings)
        : this.#inner.beginTransaction(this.#raw(connection), settings),
    );
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#guard(() => this.#inner.commitTransaction(this.#raw(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#guard(() => this.#inner.rollbackTransaction(this.#raw(connection)));
  }

  savepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.#guard(async () => this.#inner.savepoint?.(this.#raw(connection), name, compile));
  }

  rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.#guard(async () => this.#inner.rollbackToSavepoint?.(this.#raw(connection), name, compile));
  }

  releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.#guard(async () => this.#inner.releaseSavepoint?.(this.#raw(connection), name, compile));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#guard(() => this.#inner.releaseConnection(this.#raw(connection)));
  }

  destroy(): Promise<void> {
    return this.shutdown();
  }
}
