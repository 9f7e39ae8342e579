import { type Dialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { GroundworkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

export interface PostgresOptions {
  url: string;
  poolMax: number;
  connectTimeoutMs: number;
  logger?: Logger;
}

/**
 * node-postgres pool. An idle client whose server went away emits 'error' on the pool; without a
 * listener that would crash the process, so it is logged and the pool replaces the client.
 */
export function createPostgresDialect(options: PostgresOptions): Dialect {
  return new PostgresDialect({
    pool: async () => {
      const pool = new pg.Pool({
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
    },
  });
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
