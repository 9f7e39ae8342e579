import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/harness/engines.js';
import { Cache } from './cache.js';
import { CacheMetrics } from './cache-metrics.js';
import type { CacheStore } from './cache-store.js';
import { MemoryCacheStore } from './drivers/memory-cache-store.js';

const T0 = 1_000_000;

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

function memoryCache(options: { maxValueBytes?: number; maxKeyLength?: number } = {}) {
  const store = new MemoryCacheStore({ sweepIntervalMs: 0 });
  let now = T0;
  const cache = new Cache({ store, clock: () => now, jitter: 0, ...options });
  return { cache, store, advance: (ms: number) => (now += ms) };
}

describe('Cache: invalidation while a load runs', () => {
  it('delete during a load: the old result is not stored, and later callers load anew', async () => {
    const { cache } = memoryCache();
    const first = deferred<string>();
    const loads: string[] = [];
    const slow = cache.getOrLoad(
      'k',
      () => {
        loads.push('first');
        return first.promise;
      },
      { ttlMs: 10_000 },
    );
    await waitFor(() => loads.length === 1, { timeoutMs: 2_000, what: 'the first load' });
    expect(await cache.delete('k')).toBe(false);
    // A caller after the delete does not join the flight that began before it.
    const fresh = cache.getOrLoad(
      'k',
      () => {
        loads.push('second');
        return 'after-write';
      },
      { ttlMs: 10_000 },
    );
    expect(await fresh).toBe('after-write');
    first.resolve('before-write');
    expect(await slow).toBe('before-write'); // its own waiters still get what they asked for
    expect(loads).toEqual(['first', 'second']);
    expect(await cache.get('k')).toBe('after-write');
  });

  it('deleteByTag during a load of a tagged key, and an explicit set, win over the load', async () => {
    const { cache } = memoryCache();
    const tagged = deferred<string>();
    const untagged = deferred<string>();
    const a = cache.getOrLoad('a', () => tagged.promise, { ttlMs: 10_000, tags: ['posts'] });
    const b = cache.getOrLoad('b', () => untagged.promise, { ttlMs: 10_000, tags: ['users'] });
    await cache.deleteByTag('posts');
    tagged.resolve('stale-a');
    untagged.resolve('b');
    await Promise.all([a, b]);
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('b')).toBe('b'); // another tag: stored

    const slow = deferred<string>();
    const loading = cache.getOrLoad('c', () => slow.promise, { ttlMs: 10_000 });
    await cache.set('c', 'written', 10_000);
    slow.resolve('loaded-before');
    await loading;
    expect(await cache.get('c')).toBe('written');
  });

  it('a delete during a background refresh keeps the refreshed value out', async () => {
    const { cache, store, advance } = memoryCache();
    await cache.getOrLoad('k', () => 'v1', { ttlMs: 100, staleMs: 1_000 });
    advance(150);
    const refresh = deferred<string>();
    expect(await cache.getOrLoad('k', () => refresh.promise, { ttlMs: 100, staleMs: 1_000 })).toBe('v1');
    await cache.delete('k');
    refresh.resolve('v2-from-before-the-write');
    await cache.idle();
    expect(cache.counters.refreshes).toBe(1);
    expect(store.peek('k')).toBeUndefined();
    // Without the delete, the same refresh is stored.
    await cache.getOrLoad('k', () => 'v1', { ttlMs: 100, staleMs: 1_000 });
    advance(150);
    expect(await cache.getOrLoad('k', () => 'v3', { ttlMs: 100, staleMs: 1_000 })).toBe('v1');
    await cache.idle();
    expect(store.peek('k')?.record.value).toBe('v3');
  });
});

describe('Cache: fail-open reads over a failing store', () => {
  const failing: CacheStore = {
    capabilities: { crossProcess: true },
    get: () => Promise.reject(new Error('ECONNREFUSED')),
    set: () => Promise.reject(new Error('ECONNREFUSED')),
    delete: () => Promise.reject(new Error('ECONNREFUSED')),
    deleteByTag: () => Promise.reject(new Error('ECONNREFUSED')),
    close: () => Promise.resolve(),
  };

  it('get misses, getOrLoad loads, writes and invalidations reject with CACHE_ERR_STORE_UNAVAILABLE', async () => {
    const reported: Array<[string, string]> = [];
    const cache = new Cache({
      store: failing,
      onError: (error, event) => {
        reported.push([(error as Error).message, event.operation]);
        throw new Error('a failing observer is ignored');
      },
    });
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.getOrLoad('k', () => 'loaded', { ttlMs: 1_000 })).toBe('loaded');
    expect(cache.counters).toMatchObject({ storeErrors: 3, misses: 2, loads: 1 });
    expect(reported).toEqual([
      ['ECONNREFUSED', 'get'],
      ['ECONNREFUSED', 'get'],
      ['ECONNREFUSED', 'set'],
    ]);
    for (const call of [
      () => cache.set('k', 1, 1_000),
      () => cache.delete('k'),
      () => cache.deleteByTag('t'),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE', status: 503 });
      expect((error as Error).cause).toMatchObject({ message: 'ECONNREFUSED' });
    }
  });
});

describe('Cache: bounds and validation', () => {
  it('refuses bad keys, tags and TTLs with clear codes', async () => {
    const { cache } = memoryCache({ maxKeyLength: 10 });
    await expect(cache.get('')).rejects.toMatchObject({ code: 'CACHE_ERR_INVALID_KEY' });
    await expect(cache.set('k'.repeat(11), 1, 1_000)).rejects.toMatchObject({
      code: 'CACHE_ERR_INVALID_KEY',
    });
    await expect(cache.getOrLoad('k'.repeat(11), () => 1, { ttlMs: 1 })).rejects.toMatchObject({
      code: 'CACHE_ERR_INVALID_KEY',
    });
    await expect(cache.set('k', 1, 1_000, { tags: ['a\nb'] })).rejects.toMatchObject({
      code: 'CACHE_ERR_INVALID_KEY',
    });
    await expect(cache.deleteByTag('')).rejects.toMatchObject({ code: 'CACHE_ERR_INVALID_KEY' });
    for (const ttlMs of [0, -1, 1.5, Number.NaN]) {
      await expect(cache.set('k', 1, ttlMs)).rejects.toMatchObject({ code: 'CACHE_ERR_INVALID_OPTIONS' });
    }
    await expect(cache.getOrLoad('k', () => 1, { ttlMs: 1_000, negativeTtlMs: -5 })).rejects.toMatchObject({
      code: 'CACHE_ERR_INVALID_OPTIONS',
    });
    expect(() => new Cache({ store: new MemoryCacheStore(), jitter: 0.9 })).toThrow(/jitter/);
  });

  it('set refuses a value over maxValueBytes; getOrLoad returns it uncached', async () => {
    const { cache, store } = memoryCache({ maxValueBytes: 20 });
    await expect(cache.set('k', 'x'.repeat(19), 1_000)).rejects.toMatchObject({
      code: 'CACHE_ERR_VALUE_TOO_LARGE',
    });
    expect(await cache.set('k', 'x'.repeat(18), 1_000)).toBe(true); // 20 JSON characters
    let loads = 0;
    const big = () => {
      loads++;
      return { text: 'x'.repeat(100) };
    };
    expect(await cache.getOrLoad('big', big, { ttlMs: 1_000 })).toEqual({ text: 'x'.repeat(100) });
    expect(await cache.getOrLoad('big', big, { ttlMs: 1_000 })).toEqual({ text: 'x'.repeat(100) });
    expect(loads).toBe(2);
    expect(cache.counters.oversized).toBe(2);
    expect(store.peek('big')).toBeUndefined();
  });

  it('values that are not JSON data are refused, and reject the flight of a loader returning one', async () => {
    const { cache } = memoryCache();
    await expect(cache.set('k', () => 1, 1_000)).rejects.toMatchObject({ code: 'CACHE_ERR_INVALID_VALUE' });
    await expect(cache.set('k', 10n, 1_000)).rejects.toMatchObject({ code: 'CACHE_ERR_INVALID_VALUE' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(cache.getOrLoad('k', () => cyclic, { ttlMs: 1_000 })).rejects.toMatchObject({
      code: 'CACHE_ERR_INVALID_VALUE',
    });
    expect(cache.counters.loadErrors).toBe(1);
  });

  it('the value a loader returns is the frozen copy every waiter shares', async () => {
    const { cache } = memoryCache();
    const original = { list: [1, 2] };
    const [a, b] = await Promise.all([
      cache.getOrLoad('k', () => original, { ttlMs: 1_000 }),
      cache.getOrLoad('k', () => original, { ttlMs: 1_000 }),
    ]);
    expect(a).toBe(b);
    expect(a).not.toBe(original);
    expect(Object.isFrozen(a!.list)).toBe(true);
    expect(Object.isFrozen(original)).toBe(false);
    expect(await cache.get('k')).toBe(a); // the memory store hands out that same object
  });
});

describe('Cache: metrics', () => {
  it('counts per cache and scope in Prometheus, and reads sizes and evictions from the store', async () => {
    const registry = new Registry();
    const metrics = new CacheMetrics(registry);
    let now = T0;
    const store = new MemoryCacheStore({ maxEntries: 2, sweepIntervalMs: 0 });
    const cache = new Cache({ name: 'records', store, metrics, clock: () => now, jitter: 0 });
    const other = new Cache({ name: 'lists', store: new MemoryCacheStore({ sweepIntervalMs: 0 }), metrics });
    expect(() => new Cache({ name: 'records', store, metrics })).toThrow(/already registered/);

    await cache.getOrLoad('posts:1', () => ({ id: 1 }), { ttlMs: 1_000, staleMs: 1_000, scope: 'posts' });
    await cache.getOrLoad('posts:1', () => ({ id: 1 }), { ttlMs: 1_000, scope: 'posts' });
    await cache.getOrLoad('users:1', () => undefined, { ttlMs: 1_000, negativeTtlMs: 100, scope: 'users' });
    await cache.getOrLoad('users:2', () => ({ id: 2 }), { ttlMs: 1_000, scope: 'users' }); // evicts posts:1
    await expect(
      cache.getOrLoad('users:3', () => Promise.reject(new Error('boom')), { ttlMs: 1_000, scope: 'users' }),
    ).rejects.toThrow('boom');
    now += 1_500;
    await cache.getOrLoad('users:2', () => ({ id: 2 }), { ttlMs: 1_000, staleMs: 0, scope: 'users' });
    await other.get('x');

    const text = await registry.metrics();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value('cache_hits_total{cache="records",scope="posts"}')).toBe(1);
    expect(value('cache_misses_total{cache="records",scope="posts"}')).toBe(1);
    expect(value('cache_misses_total{cache="records",scope="users"}')).toBe(4);
    expect(value('cache_loads_total{cache="records",scope="users",trigger="miss"}')).toBe(4);
    expect(value('cache_load_errors_total{cache="records",scope="users",trigger="miss"}')).toBe(1);
    expect(value('cache_misses_total{cache="lists",scope="default"}')).toBe(1);
    expect(value('cache_entries{cache="records"}')).toBe(1);
    expect(value('cache_bytes{cache="records"}')).toBe(store.stats().bytes);
    expect(value('cache_evictions_total{cache="records",reason="capacity"}')).toBe(1);
    // users:2 found expired on read; the negative users:1 reclaimed by the next write.
    expect(value('cache_evictions_total{cache="records",reason="expired"}')).toBe(2);
    // Scraping again does not count the same evictions twice.
    expect(
      (await registry.metrics()).includes('cache_evictions_total{cache="records",reason="capacity"} 1'),
    ).toBe(true);
    await other.close();
    expect(await registry.metrics()).not.toContain('cache_entries{cache="lists"}');
    await cache.close();
  });
});
