import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import type { CacheStore } from '../../src/cache/cache-store.js';
import { MemoryCacheStore } from '../../src/cache/drivers/memory-cache-store.js';
import { RedisCacheStore } from '../../src/cache/drivers/redis-cache-store.js';
import { freePort, waitFor } from '../harness/engines.js';
import { sharedRedis } from '../harness/shared-engines.js';

/** The fake clock's start; freshness is judged on it by `Cache` for every driver. */
const T0 = 1_700_000_000_000;

interface Target {
  name: string;
  available: boolean;
  /** A store isolated from every other test (own memory, or own Redis key prefix). */
  create(): Promise<CacheStore>;
}

const redis = sharedRedis();
let admin: Redis | undefined;
function adminClient(): Redis {
  admin ??= new Redis(redis.url);
  return admin;
}
const prefix = () => `test:cache:${randomBytes(6).toString('hex')}:`;

const targets: Target[] = [
  {
    name: 'memory',
    available: true,
    create: async () => new MemoryCacheStore({ sweepIntervalMs: 0 }),
  },
  {
    name: 'redis',
    available: redis.available,
    async create() {
      const store = new RedisCacheStore({ url: redis.url, keyPrefix: prefix() });
      await store.start();
      return store;
    },
  },
];

afterAll(async () => {
  await admin?.quit();
});

/** A promise with its resolve/reject exposed: lets a test decide when a loader finishes. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

for (const target of targets) {
  describe.skipIf(!target.available)(`cache conformance: ${target.name}`, () => {
    let now: number;
    let cache: Cache;

    beforeEach(async () => {
      now = T0;
      cache = new Cache({ store: await target.create(), clock: () => now, jitter: 0 });
    });
    afterEach(() => cache.close());

    it('set, get and delete a value', async () => {
      expect(await cache.set('a', { id: 1, tags: ['x'] }, 10_000)).toBe(true);
      expect(await cache.get('a')).toEqual({ id: 1, tags: ['x'] });
      expect(await cache.get('b')).toBeUndefined();
      expect(await cache.delete('a')).toBe(true);
      expect(await cache.get('a')).toBeUndefined();
      expect(await cache.delete('a')).toBe(false);
      expect(cache.counters).toMatchObject({ hits: 1, misses: 2 });
    });

    it('returns JSON copies, deeply frozen, and leaves the caller’s object alone', async () => {
      const input = { when: new Date(T0), nested: { list: [1, { deep: true }] }, gone: undefined };
      await cache.set('a', input, 10_000);
      const value = await cache.get<{ when: string; nested: { list: [number, { deep: boolean }] } }>('a');
      expect(value).toEqual({ when: new Date(T0).toISOString(), nested: { list: [1, { deep: true }] } });
      expect(Object.isFrozen(value)).toBe(true);
      expect(Object.isFrozen(value!.nested.list[1])).toBe(true);
      expect(() => {
        (value!.nested.list[1] as { deep: boolean }).deep = false;
      }).toThrow(TypeError);
      expect(Object.isFrozen(input)).toBe(false);
      // null, numbers, strings and arrays are values like any other.
      for (const [key, stored] of [
        ['n', null],
        ['z', 0],
        ['s', ''],
        ['l', []],
      ] as const) {
        await cache.set(key, stored, 10_000);
        expect(await cache.get(key)).toEqual(stored);
      }
    });

    it('a value is fresh until its TTL ends, on the fake clock', async () => {
      await cache.set('a', 'v', 1_000);
      now = T0 + 999;
      expect(await cache.get('a')).toBe('v');
      now = T0 + 1_000;
      expect(await cache.get('a')).toBeUndefined();
      // getOrLoad sees the expiry too: it loads again.
      let loads = 0;
      expect(await cache.getOrLoad('a', () => `v${++loads}`, { ttlMs: 1_000 })).toBe('v1');
      expect(await cache.getOrLoad('a', () => `v${++loads}`, { ttlMs: 1_000 })).toBe('v1');
      now += 1_000;
      expect(await cache.getOrLoad('a', () => `v${++loads}`, { ttlMs: 1_000 })).toBe('v2');
    });

    it('deleteByTag removes exactly the entries carrying the tag, and their other memberships', async () => {
      await cache.set('k1', 1, 10_000, { tags: ['t1', 't2'] });
      await cache.set('k2', 2, 10_000, { tags: ['t1'] });
      await cache.set('k3', 3, 10_000, { tags: ['t2'] });
      await cache.set('k4', 4, 10_000);
      expect(await cache.deleteByTag('t1')).toBe(2);
      expect(await cache.get('k1')).toBeUndefined();
      expect(await cache.get('k2')).toBeUndefined();
      expect(await cache.get('k3')).toBe(3);
      expect(await cache.get('k4')).toBe(4);
      // k1 left t2 when it was deleted: only k3 is removed now.
      expect(await cache.deleteByTag('t2')).toBe(1);
      expect(await cache.get('k3')).toBeUndefined();
      expect(await cache.deleteByTag('t1')).toBe(0);
      expect(await cache.deleteByTag('never-used')).toBe(0);
    });

    it('replacing a value replaces its tags', async () => {
      await cache.set('k', 'old', 10_000, { tags: ['a', 'shared'] });
      await cache.set('k', 'new', 10_000, { tags: ['b', 'shared'] });
      expect(await cache.deleteByTag('a')).toBe(0);
      expect(await cache.get('k')).toBe('new');
      expect(await cache.deleteByTag('shared')).toBe(1);
      expect(await cache.get('k')).toBeUndefined();
      expect(await cache.deleteByTag('b')).toBe(0);
    });

    it('getOrLoad tags what it loads', async () => {
      await cache.getOrLoad('posts:1', () => ({ id: 1 }), { ttlMs: 10_000, tags: ['collection:posts'] });
      await cache.getOrLoad('posts:2', () => ({ id: 2 }), { ttlMs: 10_000, tags: ['collection:posts'] });
      expect(await cache.deleteByTag('collection:posts')).toBe(2);
      expect(await cache.get('posts:1')).toBeUndefined();
    });

    it('single flight: 1000 concurrent getOrLoad of a missing key call the loader once', async () => {
      const gate = deferred<{ id: number }>();
      let calls = 0;
      const loader = () => {
        calls++;
        return gate.promise;
      };
      const results = Array.from({ length: 1_000 }, () => cache.getOrLoad('hot', loader, { ttlMs: 10_000 }));
      // Let every lookup reach the store and come back before the load finishes.
      await waitFor(() => calls > 0, { timeoutMs: 5_000, what: 'the loader to be called' });
      gate.resolve({ id: 7 });
      const values = await Promise.all(results);
      expect(calls).toBe(1);
      expect(new Set(values).size).toBe(1); // one shared frozen copy
      expect(values[0]).toEqual({ id: 7 });
      expect(cache.counters).toMatchObject({ loads: 1, misses: 1, coalesced: 999 });
      // Stored: later calls hit without loading.
      expect(await cache.getOrLoad('hot', loader, { ttlMs: 10_000 })).toEqual({ id: 7 });
      expect(calls).toBe(1);
    });

    it('a loader error reaches every waiter of the flight and is not cached', async () => {
      const gate = deferred<string>();
      let calls = 0;
      const loader = () => {
        calls++;
        return gate.promise;
      };
      const results = Array.from({ length: 10 }, () =>
        cache.getOrLoad('k', loader, { ttlMs: 10_000 }).then(
          () => 'resolved',
          (error: Error) => error,
        ),
      );
      await waitFor(() => calls > 0, { timeoutMs: 5_000, what: 'the loader to be called' });
      const failure = new Error('database down');
      gate.reject(failure);
      for (const outcome of await Promise.all(results)) expect(outcome).toBe(failure);
      expect(calls).toBe(1);
      expect(cache.counters.loadErrors).toBe(1);
      expect(await cache.getOrLoad('k', () => 'ok', { ttlMs: 10_000 })).toBe('ok');
      // A synchronous throw is a loader error too.
      await expect(
        cache.getOrLoad(
          'k2',
          () => {
            throw new Error('sync');
          },
          { ttlMs: 10_000 },
        ),
      ).rejects.toThrow('sync');
    });

    it('stale-while-revalidate: serves stale at once, refreshes once in the background', async () => {
      await cache.getOrLoad('k', () => 'v1', { ttlMs: 1_000, staleMs: 5_000 });
      now = T0 + 1_500;
      const refresh = deferred<string>();
      let calls = 0;
      const loader = () => {
        calls++;
        return refresh.promise;
      };
      const options = { ttlMs: 1_000, staleMs: 5_000 };
      expect(await cache.getOrLoad('k', loader, options)).toBe('v1');
      expect(await cache.getOrLoad('k', loader, options)).toBe('v1');
      expect(calls).toBe(1); // one refresh, though two stale reads
      expect(cache.counters).toMatchObject({ staleServes: 2, refreshes: 1 });
      // Plain get never serves stale values.
      expect(await cache.get('k')).toBeUndefined();
      refresh.resolve('v2');
      await waitFor(async () => (await cache.get('k')) === 'v2', {
        timeoutMs: 5_000,
        what: 'the refreshed value to be stored',
      });
      expect(await cache.getOrLoad('k', loader, options)).toBe('v2');
      expect(calls).toBe(1);
      // The refreshed value has a TTL of its own, from the refresh time.
      now += 999;
      expect(await cache.get('k')).toBe('v2');
    });

    it('a failed refresh keeps serving stale until the grace ends, counted', async () => {
      await cache.getOrLoad('k', () => 'v1', { ttlMs: 1_000, staleMs: 5_000 });
      now = T0 + 2_000;
      let calls = 0;
      const failing = async () => {
        calls++;
        throw new Error('database down');
      };
      const options = { ttlMs: 1_000, staleMs: 5_000 };
      expect(await cache.getOrLoad('k', failing, options)).toBe('v1');
      await waitFor(() => cache.counters.refreshErrors === 1, {
        timeoutMs: 5_000,
        what: 'the refresh to fail',
      });
      now = T0 + 5_999;
      expect(await cache.getOrLoad('k', failing, options)).toBe('v1'); // retried once more
      await waitFor(() => cache.counters.refreshErrors === 2, {
        timeoutMs: 5_000,
        what: 'the retry to fail',
      });
      expect(calls).toBe(2);
      now = T0 + 6_000; // TTL + grace over: a miss, and the loader's error reaches the caller
      await expect(cache.getOrLoad('k', failing, options)).rejects.toThrow('database down');
      expect(cache.counters).toMatchObject({ staleServes: 2, refreshErrors: 2, loadErrors: 1 });
    });

    it('negative caching: a not-found is cached for negativeTtlMs only', async () => {
      let calls = 0;
      const missing = () => {
        calls++;
        return undefined;
      };
      const options = { ttlMs: 10_000, negativeTtlMs: 500 };
      expect(await cache.getOrLoad('gone', missing, options)).toBeUndefined();
      now = T0 + 499;
      expect(await cache.getOrLoad('gone', missing, options)).toBeUndefined();
      expect(calls).toBe(1);
      expect(cache.counters.hits).toBe(1);
      now = T0 + 500;
      expect(await cache.getOrLoad('gone', missing, options)).toBeUndefined();
      expect(calls).toBe(2);
      // Without negativeTtlMs a not-found is not cached at all.
      await cache.getOrLoad('other', missing, { ttlMs: 10_000 });
      await cache.getOrLoad('other', missing, { ttlMs: 10_000 });
      expect(calls).toBe(4);
      // A cached not-found is replaced by a real value once one is set.
      await cache.set('gone', 'back', 10_000);
      expect(await cache.getOrLoad('gone', missing, options)).toBe('back');
    });

    it('a refresh that finds the value gone stops serving the stale one', async () => {
      await cache.getOrLoad('k', () => 'v1', { ttlMs: 1_000, staleMs: 5_000 });
      now = T0 + 1_500;
      expect(await cache.getOrLoad('k', () => undefined, { ttlMs: 1_000, staleMs: 5_000 })).toBe('v1');
      await waitFor(async () => (await cache.store.get('k', now)) === undefined, {
        timeoutMs: 5_000,
        what: 'the stale value to be removed',
      });
      expect(await cache.getOrLoad('k', () => 'v2', { ttlMs: 1_000 })).toBe('v2');
    });
  });
}

describe.skipIf(!redis.available)('cache on redis: engine behaviour', () => {
  const stores: RedisCacheStore[] = [];
  const open = async (keyPrefix: string) => {
    const store = new RedisCacheStore({ url: redis.url, keyPrefix });
    stores.push(store);
    await store.start();
    return store;
  };
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  it('records and tag sets expire in Redis at TTL + grace (PX)', async () => {
    const store = await open(prefix());
    const cache = new Cache({ store, jitter: 0 });
    await cache.set('k', 'v', 1_000, { staleMs: 500, tags: ['t'] });
    const recordTtl = await adminClient().pttl(store.recordKey('k'));
    const tagTtl = await adminClient().pttl(store.tagKey('t'));
    expect(recordTtl).toBeGreaterThan(1_000);
    expect(recordTtl).toBeLessThanOrEqual(1_500);
    expect(tagTtl).toBeGreaterThanOrEqual(recordTtl - 50);
    // A short real TTL: the record is gone from Redis itself, not only judged stale.
    const started = Date.now();
    await cache.set('short', 'v', 30);
    await waitFor(async () => (await adminClient().exists(store.recordKey('short'))) === 0, {
      timeoutMs: 5_000,
      what: 'Redis to expire the record',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('two stores on one prefix share entries (crossProcess)', async () => {
    const keyPrefix = prefix();
    const a = new Cache({ store: await open(keyPrefix), name: 'a' });
    const b = new Cache({ store: await open(keyPrefix), name: 'b' });
    expect(a.store.capabilities.crossProcess).toBe(true);
    await a.set('k', { from: 'a' }, 10_000, { tags: ['t'] });
    expect(await b.get('k')).toEqual({ from: 'a' });
    expect(await b.deleteByTag('t')).toBe(1);
    expect(await a.get('k')).toBeUndefined();
  });

  it('a tag membership left by an expired record never deletes the key re-set without the tag', async () => {
    const store = await open(prefix());
    const cache = new Cache({ store });
    await cache.set('k', 'old', 10_000, { tags: ['a'] });
    await adminClient().del(store.recordKey('k')); // as if Redis had expired or evicted it
    await cache.set('k', 'new', 10_000, { tags: ['b'] });
    expect(await adminClient().sismember(store.tagKey('a'), 'k')).toBe(1); // the leftover
    expect(await cache.deleteByTag('a')).toBe(0);
    expect(await cache.get('k')).toBe('new');
    expect(await adminClient().exists(store.tagKey('a'))).toBe(0); // pruned
  });

  it('with Redis unreachable, reads fall back to the loader (single flight kept), writes report it', async () => {
    const port = await freePort(); // nothing listens there
    const store = new RedisCacheStore({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 200 });
    stores.push(store);
    const errors: string[] = [];
    const cache = new Cache({ store, onError: (_error, event) => errors.push(event.operation) });
    await expect(cache.start()).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
    expect(await cache.check()).toMatch(/^cache store \(Redis\)/);
    let calls = 0;
    const loader = async () => {
      calls++;
      return { id: 1 };
    };
    const values = await Promise.all(
      Array.from({ length: 100 }, () => cache.getOrLoad('k', loader, { ttlMs: 10_000 })),
    );
    expect(values.every((value) => value?.id === 1)).toBe(true);
    expect(calls).toBe(1);
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.counters.storeErrors).toBe(3); // the lookup, the write, the plain get
    expect(errors).toEqual(['get', 'set', 'get']);
    await expect(cache.delete('k')).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
    await expect(cache.deleteByTag('t')).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
    await expect(cache.set('k', 1, 1_000)).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
  });
});
