import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type Dialect, SqliteDialect } from 'kysely';
import { GroundworkError } from '../../core/errors.js';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  path: string;
  busyTimeoutMs: number;
}

/** `sqlite://./data/x.db` → `./data/x.db`; `sqlite:///abs/x.db` → `/abs/x.db`; `sqlite::memory:`. */
export function sqlitePathFromUrl(url: string): string {
  const rest = url.replace(/^sqlite:(\/\/)?/, '');
  if (rest === ':memory:' || rest === '') return ':memory:';
  return rest;
}

/** A SQLite dialect for Kysely, and a way to read rows as arrays on its one connection. */
export interface SqliteDialectHandle {
  readonly dialect: Dialect;
  /**
   * Runs a SELECT on the dialect's connection and returns its rows as arrays of column values in
   * select-list order. The caller must hold the connection (run it inside Kysely's
   * `connection().execute`), so it never runs inside another caller's open transaction.
   */
  selectArrays(sql: string, parameters: readonly unknown[]): unknown[][];
}

/**
 * better-sqlite3 with WAL (readers never block the writer), foreign keys enforced, and a busy
 * timeout so a second process (e.g. `groundwork migrate` while the server runs) waits instead of
 * failing. synchronous=NORMAL in WAL mode loses no committed transaction on a process crash
 * (kill -9); only an OS crash or power loss can drop the last commits.
 */
export function createSqliteDialect(options: SqliteOptions): SqliteDialectHandle {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  let connection: CachedConnection | undefined;
  const dialect = new SqliteDialect({
    database: async () => {
      const db = new BetterSqlite3(options.path, { timeout: options.busyTimeoutMs });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
      connection = withStatementCache(db);
      return connection;
    },
  });
  return {
    dialect,
    selectArrays(sql, parameters) {
      if (connection === undefined) throw new Error('SQLite connection is not open');
      return connection.selectArrays(sql, parameters);
    },
  };
}

/** Statements kept prepared per connection: Kysely's SQLite driver would prepare each query anew. */
const STATEMENT_CACHE_SIZE = 500;

type CachedConnection = ReturnType<typeof withStatementCache>;

/**
 * The connection as Kysely sees it, with `prepare` answered from a small LRU of prepared
 * statements keyed by SQL text (queries are parameterised, so the text repeats). Safe because
 * the one connection runs one statement at a time; SQLite re-prepares a cached statement itself
 * when the schema changed under it. `selectArrays` keeps its own statements, in raw (array) mode,
 * so a statement Kysely gets always returns objects.
 */
function withStatementCache(db: BetterSqlite3.Database) {
  const objects = new Map<string, BetterSqlite3.Statement>();
  const arrays = new Map<string, BetterSqlite3.Statement>();
  const cached = (cache: Map<string, BetterSqlite3.Statement>, text: string, raw: boolean) => {
    let statement = cache.get(text);
    if (statement) {
      cache.delete(text);
    } else {
      statement = db.prepare(text);
      if (raw) statement.raw(true);
      if (cache.size >= STATEMENT_CACHE_SIZE) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
    }
    cache.set(text, statement);
    return statement;
  };
  return {
    prepare(text: string): BetterSqlite3.Statement {
      return cached(objects, text, false);
    },
    selectArrays(text: string, parameters: readonly unknown[]): unknown[][] {
      return cached(arrays, text, true).all(parameters) as unknown[][];
    },
    close(): void {
      objects.clear();
      arrays.clear();
      db.close();
    },
  };
}

/** Writers take the lock at BEGIN so they queue on busy_timeout rather than fail on upgrade. */
export async function beginImmediate(connection: { executeQuery: (q: CompiledQuery) => Promise<unknown> }) {
  await connection.executeQuery(CompiledQuery.raw('begin immediate'));
}

export function translateSqliteError(error: unknown): GroundworkError {
  if (error instanceof GroundworkError) return error;
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      return new GroundworkError('DB_ERR_UNIQUE_VIOLATION', {
        detail: 'A record with the same unique value already exists.',
        cause: error,
      });
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return new GroundworkError('DB_ERR_FOREIGN_KEY_VIOLATION', {
        detail: 'The change breaks a reference between records.',
        cause: error,
      });
    case 'SQLITE_CONSTRAINT_NOTNULL':
      return new GroundworkError('DB_ERR_NOT_NULL_VIOLATION', {
        detail: 'A required value is missing.',
        cause: error,
      });
    case 'SQLITE_CONSTRAINT_CHECK':
      return new GroundworkError('DB_ERR_CHECK_VIOLATION', {
        detail: 'A value violates a constraint.',
        cause: error,
      });
    case 'SQLITE_BUSY':
    case 'SQLITE_BUSY_SNAPSHOT':
    case 'SQLITE_LOCKED':
      return new GroundworkError('DB_ERR_SERIALIZATION_FAILURE', {
        detail: 'The database is busy with a concurrent write; retry.',
        cause: error,
      });
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_IOERR':
    case 'SQLITE_FULL':
    case 'SQLITE_READONLY':
      return new GroundworkError('DB_ERR_CONNECTION', { cause: error });
    case 'SQLITE_CONSTRAINT_TRIGGER':
      // ON DELETE RESTRICT is enforced by an internal trigger and reports this extended code.
      if (/FOREIGN KEY constraint failed/.test(message)) {
        return new GroundworkError('DB_ERR_FOREIGN_KEY_VIOLATION', {
          detail: 'The change breaks a reference between records.',
          cause: error,
        });
      }
      return new GroundworkError('DB_ERR_QUERY', { cause: error });
    default:
      if (/driver has already been destroyed|database connection is not open/i.test(message)) {
        return new GroundworkError('DB_ERR_CLOSED', { cause: error });
      }
      return new GroundworkError('DB_ERR_QUERY', { cause: error });
  }
}
