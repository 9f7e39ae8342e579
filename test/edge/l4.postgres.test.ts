/**
 * An L4 route in front of two real PostgreSQL servers (two private ones from the harness, playing
 * read replicas): `pg` clients connect through the proxy, one server is shut down while clients keep
 * connecting, and every connection opened after it is gone reaches the other; the health check then
 * stops trying it, and it gets connections again once it is back.
 */
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../src/edge/l4/tcp-proxy.js';
import type { TcpRoute } from '../../src/edge/l4/tcp-route.js';
import { engineAvailable, waitFor } from '../harness/engines.js';
import { type PostgresServer, startPostgres } from '../harness/postgres.js';
import { metric } from './l4-upstreams.js';

describe.skipIf(!engineAvailable('postgres'))('L4 route in front of two PostgreSQL servers', () => {
  let primary: PostgresServer;
  let victim: PostgresServer;
  let proxy: TcpProxy;
  let route: TcpRoute;
  const registry = new Registry();

  beforeAll(async () => {
    [primary, victim] = await Promise.all([startPostgres(), startPostgres()]);
    proxy = new TcpProxy({
      registry,
      routes: [
        {
          name: 'pg',
          listen: { port: 0 },
          balancer: 'round-robin',
          targets: [`127.0.0.1:${primary.port}`, `127.0.0.1:${victim.port}`],
          connectTimeoutMs: 2_000,
          drainTimeoutMs: 1_000,
          healthCheck: { intervalMs: 100, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 2 },
          // Passive ejection off: the active health check alone must take the dead server out.
          outlierDetection: { consecutiveConnectFailures: 0 },
        },
      ],
    });
    await proxy.start();
    route = proxy.route('pg')!;
  });

  afterAll(async () => {
    await proxy?.close();
    await Promise.all([primary?.destroy(), victim?.destroy()]);
  });

  const client = (): pg.Client => {
    const c = new pg.Client({
      host: '127.0.0.1',
      port: route.port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: 5_000,
    });
    c.on('error', () => {}); // a session killed with its server reports here too
    return c;
  };

  /** Opens a session through the proxy, asks which server it reached, closes it. */
  const serverPort = async (): Promise<number> => {
    const c = client();
    await c.connect();
    try {
      const result = await c.query<{ port: number }>("select current_setting('port')::int as port");
      return result.rows[0]!.port;
    } finally {
      await c.end();
    }
  };

  const victimTarget = () => route.targets().find((t) => t.id === `127.0.0.1:${victim.port}`)!;

  it('balances sessions over both, loses none opened after one dies, and takes it back', async () => {
    const first: number[] = [];
    for (let i = 0; i < 6; i++) first.push(await serverPort());
    expect(first.filter((p) => p === primary.port)).toHaveLength(3);
    expect(first.filter((p) => p === victim.port)).toHaveLength(3);

    // A long session on the server that stays up must not notice anything.
    let session = client();
    await session.connect();
    for (;;) {
      const { rows } = await session.query<{ port: number }>("select current_setting('port')::int as port");
      if (rows[0]!.port === primary.port) break;
      await session.end();
      session = client();
      await session.connect();
    }

    // Four clients keep opening sessions; after 20, the victim is shut down under them.
    const results: Array<{ afterStop: boolean; port?: number; error?: string }> = [];
    let stopping = false;
    let stopped = false;
    const worker = async (): Promise<void> => {
      while (results.length < 5_000 && !(stopped && results.filter((r) => r.afterStop).length >= 40)) {
        const afterStop = stopped;
        try {
          results.push({ afterStop, port: await serverPort() });
        } catch (error) {
          results.push({ afterStop, error: (error as Error).message });
        }
        if (!stopping && results.length >= 20) {
          stopping = true;
          void victim.stop().then(() => {
            stopped = true;
          });
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(stopped).toBe(true);
    const before = results.filter((r) => !r.afterStop);
    const after = results.filter((r) => r.afterStop);
    expect(before.some((r) => r.port === victim.port)).toBe(true);
    expect(after.length).toBeGreaterThanOrEqual(40);
    // Not one session opened after the shutdown failed: refused connects were retried on the other.
    expect(after.filter((r) => r.error !== undefined)).toEqual([]);
    expect(after.every((r) => r.port === primary.port)).toBe(true);
    // Sessions on the victim while it shut down may fail (killed, or refused by PostgreSQL itself);
    // the proxy never closed a client for want of a target.
    expect(route.stats().refused['no-target']).toBe(0);
    expect(route.stats().retries).toBeGreaterThan(0);

    // The health check marks it down; from then on it is not even tried.
    await waitFor(() => !victimTarget().healthy, { timeoutMs: 10_000, what: 'the victim to be marked down' });
    expect(await metric(registry, 'edge_tcp_target_healthy', { target: `127.0.0.1:${victim.port}` })).toBe(0);
    const failures = route.stats().connectFailures;
    for (let i = 0; i < 10; i++) expect(await serverPort()).toBe(primary.port);
    expect(route.stats().connectFailures).toBe(failures);

    const stillThere = await session.query<{ one: number }>('select 1 as one');
    expect(stillThere.rows[0]!.one).toBe(1);
    await session.end();

    // Back up: the health check lets it in again and round robin gives it its share.
    await victim.start();
    await waitFor(() => victimTarget().healthy, {
      timeoutMs: 15_000,
      what: 'the victim to be marked up again',
    });
    const back: number[] = [];
    for (let i = 0; i < 6; i++) back.push(await serverPort());
    expect(back.filter((p) => p === victim.port)).toHaveLength(3);
    expect(
      await metric(registry, 'edge_tcp_upstream_connections_total', { target: `127.0.0.1:${victim.port}` }),
    ).toBeGreaterThan(3);
  });
});
