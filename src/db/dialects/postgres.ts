import { createHash } from 'node:crypto';
import { type Dialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { GroundworkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

export interface PostgresOptions {
  url: string;
  poolMax: number;
  connectTimeoutMs: number;
  /** Named (prepared) statements for `selectArrays`; false behind a pooler that does not track them. */
  preparedStatements: boolean;
  logger?: Logger;
}

/** A PostgreSQL dialect for Kysely, and a way to read rows as arrays from its pool. */
export interface PostgresDialectHandle {
  readonly dialect: Dialect;
  /**
   * Runs a SELECT on a pooled connection (outside any transaction) and returns its rows as arrays
   * of column values in select-list order: pg's `rowMode: 'array'`, no object per row. The
   * statement is prepared on the connection under a name derived from its text and reused from
   * then on (no parse and plan per request), up to NAMED_PER_CONNECTION statements per connection.
   */
  selectArrays(sql: string, parameters: readonly unknown[]): Promise<unknown[][]>;
}

/**
 * node-postgres pool. An idle client whose server went away emits 'error' on the pool; without a
 * listener that would crash the process, so it is logged and the pool replaces the client.
 */
export function createPostgresDialect(options: PostgresOptions): PostgresDialectHandle {
  let pool: pg.Pool | undefined;
  const poolOf = (): pg.Pool => {
    if (pool !== undefined) return pool;
    pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax,
      connectionTimeoutMillis: options.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'groundwork',
      types: { getTypeParser: typeParser as typeof pg.types.getTypeParser },
    });
    pool.on('error', (error) => {
      options.logger?.warn(
        { err: { message: error.message, code: (error as { code?: string }).code } },
        'idle PostgreSQL connection lost',
      );
    });
    return pool;
  };
  return {
    dialect: new PostgresDialect({ pool: async () => poolOf() }),
    async selectArrays(sql, parameters) {
      const values = [...parameters];
      const client = await poolOf().connect();
      let names = preparedOn.get(client);
      if (names === undefined) {
        names = new Set();
        preparedOn.set(client, names);
      }
      const name = statementName(sql);
      const named = options.preparedStatements && (names.has(name) || names.size < NAMED_PER_CONNECTION);
      // Counted before it runs: a statement whose Parse failed only wastes a slot.
      if (named) names.add(name);
      let result: pg.QueryResult<unknown[]>;
      try {
        result = await client.query<unknown[]>(
          named ? { name, text: sql, values, rowMode: 'array' } : { text: sql, values, rowMode: 'array' },
        );
      } catch (error) {
        if (named && isStalePlan(error)) {
          // The table was re-created with other column types since this connection prepared the
          // statement: drop the connection (and its statements), run this one unnamed.
          client.release(true);
          return (await poolOf().query<unknown[]>({ text: sql, values, rowMode: 'array' })).rows;
        }
        client.release();
        throw error;
      }
      client.release();
      return result.rows;
    },
  };
}

/**
 * Named statements one pooled connection keeps at most (they live in its server process until it
 * closes); further statements run unnamed, parsed and planned each time as usual.
 */
const NAMED_PER_CONNECTION = 64;
const STATEMENT_NAMES_MAX = 1_000;
/** SQL text → statement name (a digest, so the same text has the same name on every connection). */
const statementNames = new Map<string, string>();
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    if (statementNames.size >= STATEMENT_NAMES_MAX) statementNames.clear();
    name = `gw_${createHash('sha256').update(text).digest('base64url').slice(0, 40)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** PostgreSQL refuses a prepared statement whose result columns changed type (SQLSTATE 0A000). */
function isStalePlan(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    code === '0A000' && typeof message === 'string' && /cached plan must not change result type/.test(message)
  );
}

const TIMESTAMPTZ_OID = 1184;
const UTC_TIMESTAMPTZ = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/;

/**
 * `timestamptz` arrives as the ISO text Groundwork returns (`YYYY-MM-DDTHH:MM:SS.sssZ`) instead of a
 * `Date` (pg's default parses every value into a Date that the API layer then formats again: a
 * fifth of a 50-row list's CPU). A UTC session's text is rewritten in place; any other offset or
 * form goes through `Date`. Per pool, so other pg users in the process keep pg's defaults.
 */
export function parseTimestamptz(text: string): string {
  const m = UTC_TIMESTAMPTZ.exec(text);
  if (m) return `${m[1]}T${m[2]}.${`${m[3] ?? ''}000`.slice(0, 3)}Z`;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}

function typeParser(oid: number, format?: 'text' | 'binary'): unknown {
  if (oid === TIMESTAMPTZ_OID && format !== 'binary') return parseTimestamptz;
  return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
}

const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53000']);
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

export function translatePostgresError(error: unknown): GroundworkError {
  if (error instanceof GroundworkError) return error;
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string') {
    if (code === '23505')
      return new GroundworkError('DB_ERR_UNIQUE_VIOLATION', {
        detail: 'A record with the same unique value already exists.',
        cause: error,
      });
    if (code === '23503')
      return new GroundworkError('DB_ERR_FOREIGN_KEY_VIOLATION', {
        detail: 'The change breaks a reference between records.',
        cause: error,
      });
    if (code === '23502')
      return new GroundworkError('DB_ERR_NOT_NULL_VIOLATION', {
        detail: 'A required value is missing.',
        cause: error,
      });
    if (code === '23514')
      return new GroundworkError('DB_ERR_CHECK_VIOLATION', {
        detail: 'A value violates a constraint.',
        cause: error,
      });
    if (code === '40001' || code === '40P01') {
      return new GroundworkError('DB_ERR_SERIALIZATION_FAILURE', {
        detail: 'A concurrent transaction conflicted with this one; retry.',
        cause: error,
      });
    }
    if (code.startsWith('08') || CONNECTION_SQLSTATES.has(code) || SOCKET_CODES.has(code)) {
      return new GroundworkError('DB_ERR_CONNECTION', { cause: error });
    }
  }
  if (
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      message,
    )
  ) {
    return new GroundworkError('DB_ERR_CONNECTION', { cause: error });
  }
  if (/driver has already been destroyed|Cannot use a pool after calling end/i.test(message)) {
    return new GroundworkError('DB_ERR_CLOSED', { cause: error });
  }
  return new GroundworkError('DB_ERR_QUERY', { cause: error });
}
