import type { TestProject } from 'vitest/node';
import { engineAvailable } from './engines.js';
import { startPostgres } from './postgres.js';
import { startRedis } from './redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL (database `postgres`) of the run's shared PostgreSQL; '' when it is not installed. */
    postgresUrl: string;
    /** URL of the run's shared Redis; '' when it is not installed. */
    redisUrl: string;
  }
}

/**
 * Starts one PostgreSQL and one Redis for the whole run (test files then create their own database
 * or use their own key prefix) and destroys them when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // engineAvailable throws when GROUNDWORK_REQUIRE_ENGINES=1 and an engine is missing.
  const wantPostgres = engineAvailable('postgres');
  const wantRedis = engineAvailable('redis');
  const [postgres, redis] = await Promise.allSettled([
    wantPostgres ? startPostgres() : undefined,
    wantRedis ? startRedis() : undefined,
  ]);
  if (postgres.status === 'rejected' || redis.status === 'rejected') {
    // Do not leave the one that did start running until process exit.
    await Promise.all([
      postgres.status === 'fulfilled' ? postgres.value?.destroy() : undefined,
      redis.status === 'fulfilled' ? redis.value?.destroy() : undefined,
    ]);
    throw postgres.status === 'rejected' ? postgres.reason : (redis as PromiseRejectedResult).reason;
  }
  project.provide('postgresUrl', postgres.value?.url() ?? '');
  project.provide('redisUrl', redis.value?.url ?? '');
  return async () => {
    await Promise.all([postgres.value?.destroy(), redis.value?.destroy()]);
  };
}
