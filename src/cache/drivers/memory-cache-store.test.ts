import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/harness/engines.js';
import { Cache } from '../cache.js';
import type { CacheWrite } from '../cache-store.js';
import { MemoryCacheStore, type MemoryCacheStoreOptions } from './memory-cache-store.js';

const T0 = 1_000_000;

/** A write of a JSON string value whose counted size is `key.length + json.length`. */
function write(value: string, ttlMs = 10_000, tags: readonly string[] = [], nowMs = T0): CacheWrite {
  return {
    value,
    json: JSON.stringify(value),
    tags,
    storedAtMs: nowMs,
    freshUntilMs: nowMs + ttlMs,
    staleUntilMs: nowMs + ttlMs,
  };
}

const stores: MemoryCacheStore[] = [];
function store(options: MemoryCacheStoreOptions): MemoryCacheStore {
  const created = new MemoryCacheStore({ sweepIntervalMs: 0, ...options });
  stores.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

describe('MemoryCacheStore eviction order', () => {
  it('LRU evicts the least recently used entry; reads and writes count as use', async () => {
    const s = store({ eviction: 'lru', maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) await s.set(key, write(key), T0);
    expect(s.keys()).toEqual(['a', 'b', 'c']);
    await s.get('a', T0);
    expect(s.keys()).toEqual(['b', 'c', 'a']);
    await s.set('d', write('d'), T0);
    expect(s.keys()).toEqual(['c', 'a', 'd']);
    expect(await s.get('b', T0)).toBeUndefined();
    await s.set('c', write('c2'), T0); // replacing counts as use
    expect(s.keys()).toEqual(['a', 'd', 'c']);
    await s.set('e', write('e'), T0);
    await s.set('f', write('f'), T0);
    expect(s.keys()).toEqual(['c', 'e', 'f']);
    expect(s.stats()).toMatchObject({ entries: 3, evictions: 3, expirations: 0 });
  });

  it('LFU evicts the least frequently used entry, the least recent among equals', async () => {
    const s = store({ eviction: 'lfu', maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) await s.set(key, write(key), T0);
    await s.get('a', T0);
    await s.get('a', T0); // a: 3 uses
    await s.get('b', T0); // b: 2, c: 1
    expect(s.keys()).toEqual(['c', 'b', 'a']);
    await s.set('d', write('d'), T0); // c (1 use) goes; d is admitted with 1 use
    expect(s.keys()).toEqual(['d', 'b', 'a']);
    await s.get('d', T0);
    await s.get('d', T0); // d: 3, after a in the 3-use bucket
    expect(s.keys()).toEqual(['b', 'a', 'd']);
    await s.set('e', write('e'), T0); // b (2 uses) goes
    expect(s.keys()).toEqual(['e', 'a', 'd']);
    await s.set('f', write('f'), T0); // e: 1 use, older than f
    expect(s.keys()).toEqual(['f', 'a', 'd']);
    await s.set('a', write('a2'), T0); // a replaced: keeps its count, plus one
    expect(s.keys()).toEqual(['f', 'd', 'a']);
    expect(s.stats()).toMatchObject({ entries: 3, evictions: 3 });
  });

  it('an expired entry is reclaimed before any live one is evicted', async () => {
    for (const eviction of ['lru', 'lfu'] as const) {
      const s = store({ eviction, maxEntries: 3 });
      await s.set('live1', write('1'), T0);
      await s.set('short', write('s', 100), T0);
      await s.set('live2', write('2'), T0);
      await s.get('short', T0); // recently and more often used, but it expires
      await s.set('new', write('n'), T0 + 100);
      expect(s.keys().sort()).toEqual(['live1', 'live2', 'new']);
      expect(s.stats()).toMatchObject({ evictions: 0, expirations: 1 });
    }
  });
});

describe('MemoryCacheStore sizes and expiry', () => {
  it('bounds the size by key + JSON length, evicting in order; refuses an entry larger than the bound', async () => {
    const s = store({ maxBytes: 30, maxEntries: 100 });
    await s.set('a', write('12345678'), T0); // 1 + 10 = 11
    await s.set('b', write('12345678'), T0); // 22
    expect(s.stats().bytes).toBe(22);
    await s.set('c', write('1234'), T0); // 1 + 6 = 7: 29 fits
    expect(s.stats()).toMatchObject({ entries: 3, bytes: 29, evictions: 0 });
    await s.set('d', write('12'), T0); // 5 more: a goes
    expect(s.keys()).toEqual(['b', 'c', 'd']);
    expect(s.stats()).toMatchObject({ bytes: 23, evictions: 1 });
    await s.set('c', write('1'.repeat(20)), T0); // c grows from 7 to 23: b goes, never c itself
    expect(s.keys()).toEqual(['d', 'c']);
    expect(s.stats()).toMatchObject({ bytes: 28, evictions: 2 });
    expect(await s.set('c', write('1'.repeat(40)), T0)).toBe(false); // 43 > 30 alone
    expect(await s.get('c', T0)).toBeUndefined(); // never the previous value after a refused write
    expect(s.stats()).toMatchObject({ entries: 1, bytes: 5 });
  });

  it('expired entries are reclaimed on read, and by a bounded sweep in expiry order', async () => {
    const s = store({});
    for (let i = 0; i < 10; i++) await s.set(`k${i}`, write('v', 100 + i), T0);
    await s.set('long', write('v', 10_000), T0);
    expect(await s.get('k0', T0 + 100)).toBeUndefined();
    expect(s.stats()).toMatchObject({ entries: 10, expirations: 1 });
    expect(s.sweep(T0 + 200, 3)).toBe(3);
    expect(s.keys().sort()).toEqual(['k4', 'k5', 'k6', 'k7', 'k8', 'k9', 'long']);
    expect(s.sweep(T0 + 200)).toBe(6);
    expect(s.sweep(T0 + 200)).toBe(0);
    expect(s.keys()).toEqual(['long']);
    expect(s.stats()).toMatchObject({ entries: 1, expirations: 10 });
  });

  it('the sweep timer reclaims on its own clock', async () => {
    let now = T0;
    const s = new MemoryCacheStore({ sweepIntervalMs: 5, clock: () => now });
    stores.push(s);
    await s.set('k', write('v', 100), T0);
    now = T0 + 100;
    await waitFor(() => s.stats().entries === 0, { timeoutMs: 2_000, intervalMs: 5, what: 'the sweep' });
    expect(s.stats().expirations).toBe(1);
  });

  it('rejects bad options and operations after close', async () => {
    expect(() => new MemoryCacheStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new MemoryCacheStore({ eviction: 'fifo' as 'lru' })).toThrow(/eviction/);
    const s = store({});
    await s.close();
    await expect(s.get('k', T0)).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
  });
});

/** One operation of the randomized model run. */
type Op =
  | { kind: 'set'; key: string; size: number; tags: string[]; ttlMs: number }
  | { kind: 'get'; key: string }
  | { kind: 'delete'; key: string }
  | { kind: 'deleteByTag'; tag: string }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep'; limit: number };

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'kk', 'lll'];
const TAGS = ['t1', 't2', 't3', 't4'];

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      key: fc.constantFrom(...KEYS),
      size: fc.integer({ min: 0, max: 60 }),
      tags: fc.subarray(TAGS),
      ttlMs: fc.integer({ min: 1, max: 500 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.constantFrom(...KEYS) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('deleteByTag' as const), tag: fc.constantFrom(...TAGS) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 300 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('sweep' as const), limit: fc.integer({ min: 1, max: 5 }) }),
  },
);

/** Every invariant the store promises, checked against its own introspection. */
function checkInvariants(s: MemoryCacheStore): void {
  const stats = s.stats();
  const keys = s.keys();
  expect(stats.entries).toBeLessThanOrEqual(s.maxEntries);
  expect(stats.bytes).toBeLessThanOrEqual(s.maxBytes);
  expect(keys).toHaveLength(stats.entries);
  expect(new Set(keys).size).toBe(keys.length);
  let bytes = 0;
  const expected = new Map<string, Set<string>>();
  for (const key of keys) {
    const entry = s.peek(key)!;
    expect(entry.size).toBe(key.length + JSON.stringify(entry.record.value).length);
    bytes += entry.size;
    for (const tag of entry.tags) {
      if (!expected.has(tag)) expected.set(tag, new Set());
      expected.get(tag)!.add(key);
    }
  }
  expect(stats.bytes).toBe(bytes);
  const index = s.tagIndex();
  expect(new Set(index.keys())).toEqual(new Set(expected.keys()));
  for (const [tag, tagged] of index) expect(new Set(tagged)).toEqual(expected.get(tag));
}

describe('MemoryCacheStore under randomized operations', () => {
  for (const eviction of ['lru', 'lfu'] as const) {
    it(`${eviction}: entries and bytes stay within bounds and the tag index stays exact`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 70, max: 200 }),
          fc.array(op, { maxLength: 120 }),
          async (maxEntries, maxBytes, ops) => {
            const s = new MemoryCacheStore({ eviction, maxEntries, maxBytes, sweepIntervalMs: 0 });
            let now = T0;
            /** What each live key must hold: the last value written to it, while unexpired. */
            const written = new Map<string, { value: string; until: number }>();
            try {
              for (const o of ops) {
                switch (o.kind) {
                  case 'set': {
                    const value = 'x'.repeat(o.size);
                    expect(await s.set(o.key, write(value, o.ttlMs, o.tags, now), now)).toBe(true);
                    written.set(o.key, { value, until: now + o.ttlMs });
                    break;
                  }
                  case 'get': {
                    const record = await s.get(o.key, now);
                    // Evicted or expired entries are absent; a present one is never out of date.
                    if (record !== undefined) {
                      const last = written.get(o.key)!;
                      expect(record.value).toBe(last.value);
                      expect(now).toBeLessThan(last.until);
                    }
                    break;
                  }
                  case 'delete':
                    await s.delete(o.key);
                    expect(s.peek(o.key)).toBeUndefined();
                    break;
                  case 'deleteByTag':
                    await s.deleteByTag(o.tag);
                    for (const key of s.keys()) expect(s.peek(key)!.tags).not.toContain(o.tag);
                    break;
                  case 'advance':
                    now += o.ms;
                    break;
                  case 'sweep':
                    s.sweep(now, o.limit);
                    break;
                }
                checkInvariants(s);
              }
            } finally {
              await s.close();
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});

describe('TTL jitter', () => {
  it('spreads TTLs within ±jitter, both ways', async () => {
    const s = store({ maxEntries: 5_000 });
    const cache = new Cache({ store: s, clock: () => T0, jitter: 0.2 });
    const ttls: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      await cache.set(`k${i}`, i, 1_000);
      const { record } = s.peek(`k${i}`)!;
      ttls.push(record.freshUntilMs - record.storedAtMs);
    }
    expect(Math.min(...ttls)).toBeGreaterThanOrEqual(800);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(1_200);
    // Spread over the whole range, not clustered at 1000.
    expect(Math.min(...ttls)).toBeLessThan(850);
    expect(Math.max(...ttls)).toBeGreaterThan(1_150);
    expect(new Set(ttls).size).toBeGreaterThan(100);
  });

  it('reaches exactly the bounds at the extremes of the random source; staleMs is added unjittered', async () => {
    const s = store({});
    let r = 0;
    const cache = new Cache({ store: s, clock: () => T0, jitter: 0.25, random: () => r });
    await cache.set('low', 1, 1_000, { staleMs: 300 });
    r = 0.999_999_9;
    await cache.set('high', 1, 1_000, { staleMs: 300 });
    r = 0.5;
    await cache.getOrLoad('mid', () => 1, { ttlMs: 1_000, staleMs: 300 });
    const span = (key: string) => {
      const { record } = s.peek(key)!;
      return [record.freshUntilMs - record.storedAtMs, record.staleUntilMs - record.freshUntilMs];
    };
    expect(span('low')).toEqual([750, 300]);
    expect(span('high')).toEqual([1_250, 300]);
    expect(span('mid')).toEqual([1_000, 300]);
    // A tiny TTL never jitters to 0.
    r = 0;
    await new Cache({ store: s, clock: () => T0, jitter: 0.5, random: () => r }).set('tiny', 1, 1);
    expect(span('tiny')[0]).toBe(1);
  });
});
