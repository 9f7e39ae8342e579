import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { engineAvailable } from './engines.js';
import { type PostgresServer, startPostgres } from './postgres.js';
import { type RedisServer, redisCommand, startRedis } from './redis.js';
import { sharedPostgres, sharedRedis } from './shared-engines.js';

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** The error a failed connection attempt rejects with (fails the test if the connection succeeds). */
async function connectError(url: string): Promise<NodeJS.ErrnoException> {
  const error = await withClient(url, async () => undefined).then(
    () => undefined,
    (reason: unknown) => reason as NodeJS.ErrnoException,
  );
  if (error === undefined) throw new Error(`expected connecting to ${url} to fail`);
  return error;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

describe.skipIf(!engineAvailable('postgres'))('harness: PostgreSQL', () => {
  it('shared server: each createDatabase() is a distinct, usable database', async () => {
    const shared = sharedPostgres();
    expect(shared.available).toBe(true);
    const first = await shared.createDatabase('Harness Self-Test!');
    const second = await shared.createDatabase('harness');
    expect(first).not.toBe(second);
    expect(new URL(first).pathname).toMatch(/^\/t_harness_self_test_[a-z0-9]+$/);

    for (const url of [first, second]) {
      const row = await withClient(url, async (client) => {
        const result = await client.query<{ one: number; db: string }>(
          'select 1 as one, current_database() as db',
        );
        return result.rows[0];
      });
      expect(row).toEqual({ one: 1, db: new URL(url).pathname.slice(1) });
    }
  });

  describe('dedicated server lifecycle', () => {
    let server: PostgresServer | undefined;
    afterAll(async () => {
      await server?.destroy();
    });

    it('stop() refuses connections, start() keeps the data, destroy() ends the process', async () => {
      server = await startPostgres();
      expect(server.port).toBeGreaterThanOrEqual(15_000);
      expect(server.port).toBeLessThan(32_768);
      expect(processExists(server.pid)).toBe(true);

      const url = await server.createDatabase('lifecycle');
      await withClient(url, async (client) => {
        await client.query('create table kept (value text)');
        await client.query("insert into kept values ('survives restart')");
      });

      const firstPid = server.pid;
      await server.stop();
      expect(processExists(firstPid)).toBe(false);
      expect((await connectError(url)).code).toBe('ECONNREFUSED');

      await server.start();
      expect(server.pid).not.toBe(firstPid);
      const values = await withClient(
        url,
        async (client) => (await client.query('select value from kept')).rows,
      );
      expect(values).toEqual([{ value: 'survives restart' }]);

      const pid = server.pid;
      await server.destroy();
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
      expect(existsSync(dirname(server.dataDir))).toBe(false);
    });
  });
});

describe.skipIf(!engineAvailable('redis'))('harness: Redis', () => {
  it('shared server answers PING', async () => {
    const shared = sharedRedis();
    expect(shared.available).toBe(true);
    const port = Number(new URL(shared.url).port);
    expect(await redisCommand(port, 'PING')).toBe('+PONG');
    expect(await redisCommand(port, 'SET', 'harness:key', 'héllo')).toBe('+OK');
    expect(await redisCommand(port, 'GET', 'harness:key')).toBe('$6\r\nhéllo');
    expect(await redisCommand(port, 'GET', 'harness:missing')).toBe('$-1');
    expect(await redisCommand(port, 'NOSUCHCOMMAND')).toMatch(/^-ERR unknown command/);
  });

  describe('dedicated server lifecycle', () => {
    let server: RedisServer | undefined;
    afterAll(async () => {
      await server?.destroy();
    });

    it('stop() refuses connections, start() answers again, destroy() ends the process', async () => {
      server = await startRedis();
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(await redisCommand(server.port, 'PING')).toBe('+PONG');

      const firstPid = server.pid;
      await server.stop();
      expect(processExists(firstPid)).toBe(false);
      await expect(redisCommand(server.port, 'PING')).rejects.toMatchObject({ code: 'ECONNREFUSED' });

      await server.start();
      expect(server.pid).not.toBe(firstPid);
      expect(await redisCommand(server.port, 'PING')).toBe('+PONG');

      const pid = server.pid;
      await server.destroy();
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    });
  });
});
