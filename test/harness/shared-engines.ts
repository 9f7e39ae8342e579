import { inject } from 'vitest';
import { createDatabaseAt } from './postgres.js';

export interface SharedPostgres {
  /** False when PostgreSQL is not installed (and not required): skip the suite. */
  available: boolean;
  /** Creates a fresh, empty database `t_<prefix>_<random>` on the run's server; returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
}

export interface SharedRedis {
  /** False when Redis is not installed (and not required): skip the suite. */
  available: boolean;
  /** `redis://127.0.0.1:PORT`, shared by every test file: isolate with a per-test key prefix. */
  url: string;
}

/**
 * The run's shared PostgreSQL, started by `global-setup.ts`. Each test file (or test) isolates itself
 * in a database of its own.
 *
 * @example
 * const postgres = sharedPostgres();
 * describe.skipIf(!postgres.available)('orders on postgres', () => {
 *   let url: string;
 *   beforeAll(async () => { url = await postgres.createDatabase('orders'); });
 * });
 */
export function sharedPostgres(): SharedPostgres {
  const adminUrl = inject('postgresUrl');
  return {
    available: adminUrl !== '',
    createDatabase(prefix?: string): Promise<string> {
      if (adminUrl === '') {
        return Promise.reject(new Error('sharedPostgres: PostgreSQL is not available in this run'));
      }
      return createDatabaseAt(adminUrl, prefix);
    },
  };
}

/** The run's shared Redis, started by `global-setup.ts`. */
export function sharedRedis(): SharedRedis {
  const url = inject('redisUrl');
  return { available: url !== '', url };
}
