import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineAvailable, waitFor } from '../harness/engines.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type Node, startNode } from './nodes.js';

/**
 * Cached reads with Redis gone (the generations live there): reads fall back to the database
 * (fail-open), a write to a strongly cached collection is committed but answered 503
 * CACHE_ERR_INVALIDATION_FAILED (not acknowledged), a write nothing cached depends on is answered
 * normally, and when Redis is back (empty) the pending bump lands and caching resumes — without
 * ever serving the value from before the write.
 */
describe.runIf(engineAvailable('redis'))('record cache while Redis is down', () => {
  let redis: RedisServer;
  let node: Node & { adminKey: string };
  const records = (collection: string) => `/api/v1/collections/${collection}/records`;
  const counters = () => node.platform.cache.counters;

  beforeAll(async () => {
    redis = await startRedis();
    node = await startNode({
      cache: { driver: 'memory', url: redis.url, invalidationTimeoutMs: 300 },
    });
    for (const def of [
      { name: 'cached', fields: [{ name: 'x', type: 'text' }], cache: { ttlMs: 600_000 } },
      { name: 'plain', fields: [{ name: 'x', type: 'text' }] },
    ]) {
      expect((await node.api('POST', '/api/v1/collections', def)).status).toBe(201);
    }
  });
  afterAll(async () => {
    await node?.close();
    await redis?.destroy();
  });

  it('fails open for reads, refuses to acknowledge an uninvalidated write, and recovers', async () => {
    const id = (await node.api('POST', records('cached'), { x: 'before' })).body.id as string;
    const byId = `${records('cached')}/${id}`;
    expect((await node.api('GET', byId)).body.x).toBe('before');
    const hits = counters().hits;
    expect((await node.api('GET', byId)).body.x).toBe('before');
    expect(counters().hits).toBe(hits + 1);

    await redis.stop();
    // Reads: served from the database, not from the (still warm) memory cache.
    const read = await node.api('GET', byId);
    expect(read.status).toBe(200);
    expect(read.body.x).toBe('before');
    expect(counters().hits).toBe(hits + 1);

    // A write nothing strongly cached depends on is acknowledged as usual.
    expect((await node.api('POST', records('plain'), { x: 'y' })).status).toBe(201);
    // A write to the cached collection is committed, but not acknowledged.
    const write = await node.api('PATCH', byId, { x: 'after' });
    expect(write.status).toBe(503);
    expect(write.body.code).toBe('CACHE_ERR_INVALIDATION_FAILED');
    expect((await node.api('GET', byId)).body.x).toBe('after');

    await redis.start();
    // The pending bump lands in the background; then reads are cached again, with the new value.
    await waitFor(
      async () => {
        const before = counters().hits;
        const first = await node.api('GET', byId);
        const second = await node.api('GET', byId);
        expect([first.body.x, second.body.x]).toEqual(['after', 'after']);
        return counters().hits > before;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'cached reads to resume after Redis is back' },
    );
    const metrics = await node.platform.metrics.render();
    expect(metrics).toMatch(
      /data_cache_bypass_total\{collection="cached",reason="(generations|pending)"\} [1-9]/,
    );
  });
});
