import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineAvailable, waitFor } from '../harness/engines.js';
import { type PostgresServer, startPostgres } from '../harness/postgres.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';

// A PostgreSQL of its own: this test stops and restarts it under a running platform.
describe.skipIf(!engineAvailable('postgres'))('readiness follows PostgreSQL without a restart', () => {
  let pg: PostgresServer;
  let gw: TestPlatform;

  beforeAll(async () => {
    pg = await startPostgres();
    gw = await startTestPlatform({ db: { url: await pg.createDatabase('ready'), connectTimeoutMs: 1000 } });
  });

  afterAll(async () => {
    await gw?.close();
    await pg?.destroy();
  });

  it('/readyz is 200, then 503 naming the database while it is down, then 200 again', async () => {
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(gw.platform.database.dialect).toBe('postgres');

    await pg.stop();
    const down = await fetch(`${gw.url}/readyz`);
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await down.json()) as { code: string; detail: string; checks: Record<string, string> };
    expect(problem.code).toBe('CORE_ERR_NOT_READY');
    expect(problem.detail).toMatch(/^Not ready: database: /);
    expect(problem.checks.database).toBe('Database Unavailable');
    // Liveness is not readiness: the process itself is fine.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);

    await pg.start();
    await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 200, {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: '/readyz to recover after PostgreSQL restarted',
    });
    expect(await (await fetch(`${gw.url}/readyz`)).json()).toEqual({
      status: 'ok',
      checks: { database: 'ok' },
    });
  });
});
