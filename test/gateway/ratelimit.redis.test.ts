import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineAvailable, waitFor } from '../harness/engines.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { sharedRedis } from '../harness/shared-engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { type Spawned, startCli, waitForStarted } from '../support/process.js';

const redis = sharedRedis();

describe.skipIf(!redis.available)('rate limit shared by 3 Groundwork processes through one Redis', () => {
  const nodes: Array<{ run: Spawned; url: string }> = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-rl3-'));
    const configPath = join(dir, 'groundwork.config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        gateway: {
          rateLimit: {
            enabled: true,
            storeUrl: redis.url,
            keyPrefix: `test:${randomUUID()}:`,
            key: ['route'],
            policies: [{ name: 'global', algorithm: 'sliding-window-log', limit: 1000, windowMs: 60_000 }],
          },
        },
      }),
    );
    const runs = [0, 1, 2].map((i) =>
      startCli(['start', '--config', configPath, '--port', '0', '--data-dir', join(dir, `node${i}`)]),
    );
    // Registered before waiting, so afterAll stops them even if one fails to start.
    for (const run of runs) nodes.push({ run, url: '' });
    for (const node of nodes) node.url = await waitForStarted(node.run);
  });

  afterAll(async () => {
    for (const node of nodes) node.run.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.run.exited));
  });

  it('enforces one global 1000/min quota within ±2% under concurrent load on all three', async () => {
    const total = 3_000;
    let next = 0;
    const counts = { ok: 0, limited: 0, other: 0 };
    const perNode = [0, 0, 0];
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const node = i % 3;
        const response = await fetch(`${nodes[node]!.url}/healthz`);
        await response.arrayBuffer();
        if (response.status === 200) {
          counts.ok++;
          perNode[node]!++;
        } else if (response.status === 429) counts.limited++;
        else counts.other++;
      }
    };
    await Promise.all(Array.from({ length: 48 }, worker));
    expect(counts.other).toBe(0);
    expect(counts.ok + counts.limited).toBe(total);
    expect(counts.ok).toBeGreaterThanOrEqual(980);
    expect(counts.ok).toBeLessThanOrEqual(1020);
    // Every node took part in spending the one quota.
    for (const n of perNode) expect(n).toBeGreaterThan(200);
  });
});

describe.skipIf(!engineAvailable('redis'))('rate-limit store failure: fail-open and fail-closed', () => {
  let own: RedisServer;
  let gw: TestPlatform;

  beforeAll(async () => {
    own = await startRedis();
    const rateLimit = (failMode: 'open' | 'closed') => ({
      enabled: true,
      storeUrl: own.url,
      failMode,
      policies: [{ name: 'minute', algorithm: 'token-bucket', limit: 1000, windowMs: 60_000 }],
    });
    gw = await startTestPlatform(
      {
        gateway: {
          routes: [
            { path: '/test/open', rateLimit: rateLimit('open') },
            { path: '/test/closed', rateLimit: rateLimit('closed') },
          ],
        },
      },
      (platform) => {
        platform.app.get('/test/open', { config: { access: 'public' } }, async () => ({ ok: true }));
        platform.app.get('/test/closed', { config: { access: 'public' } }, async () => ({ ok: true }));
      },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await own?.destroy();
  });

  it('decides by failMode while Redis is down, promptly, and recovers when it returns', async () => {
    const open = await fetch(`${gw.url}/test/open`);
    expect(open.status).toBe(200);
    expect(open.headers.get('ratelimit')).toMatch(/^"minute";r=999;t=\d+$/);

    await own.stop();
    const started = performance.now();
    const openDown = await fetch(`${gw.url}/test/open`);
    const closedDown = await fetch(`${gw.url}/test/closed`);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(openDown.status).toBe(200);
    expect(openDown.headers.get('ratelimit')).toBeNull(); // nothing is known about the limit
    expect(closedDown.status).toBe(503);
    expect(((await closedDown.json()) as { code: string }).code).toBe('GATEWAY_ERR_OVERLOADED');
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_decisions_total\{policy="ratelimit",outcome="store-error"\} [1-9]/);

    await own.start();
    await waitFor(async () => (await fetch(`${gw.url}/test/closed`)).status === 200, {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'fail-closed route to recover after Redis returned',
    });
    expect((await fetch(`${gw.url}/test/open`)).headers.get('ratelimit')).toMatch(/^"minute";r=\d+;t=\d+$/);
  });
});
