import { afterAll, expect, vi } from 'vitest';

/**
 * The data-API, query, OpenAPI, outbox and auth suites again, unchanged, with caching switched on
 * for every collection they define (strong and eventual in turn, with write-through): every
 * assertion they make about reads after writes, rules and ETags must hold with the cache in the
 * path. The suites' own platform helper is wrapped so each `POST /api/v1/collections` without a
 * `cache` setting gets one; nothing else differs from their normal run.
 */
/** What the wrapped helper saw: proof afterwards that the cache was really in the path. */
const seen = vi.hoisted(() => ({
  collections: 0,
  caches: [] as { counters: { hits: number; misses: number } }[],
}));

vi.mock('../support/data-api.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../support/data-api.js')>();
  let defined = 0;
  const withCache = (method: string, path: string, body: unknown): unknown => {
    if (method !== 'POST' || path !== '/api/v1/collections') return body;
    if (body === null || typeof body !== 'object' || Array.isArray(body) || 'cache' in body) return body;
    const consistency = defined++ % 2 === 0 ? 'strong' : 'eventual';
    seen.collections++;
    return { ...body, cache: { ttlMs: 60_000, consistency, writeThrough: true } };
  };
  return {
    ...original,
    startDataPlatform: async (...args: Parameters<typeof original.startDataPlatform>) => {
      const client = await original.startDataPlatform(...args);
      seen.caches.push(client.gw.platform.cache);
      const api = client.api;
      return {
        ...client,
        api: (method: string, path: string, body?: unknown, options?: Parameters<typeof api>[3]) =>
          api(method, path, withCache(method, path, body), options),
      };
    },
  };
});

await import('../data/data-api.test.js');
await import('../data/queries.http.test.js');
await import('../data/openapi.test.js');
await import('../data/outbox.test.js');
await import('../auth/auth.http.test.js');

afterAll(() => {
  const hits = seen.caches.reduce((sum, cache) => sum + cache.counters.hits, 0);
  const misses = seen.caches.reduce((sum, cache) => sum + cache.counters.misses, 0);
  expect(seen.collections).toBeGreaterThan(10);
  // Reads were answered from the cache, and loaded into it.
  expect(hits).toBeGreaterThan(20);
  expect(misses).toBeGreaterThan(hits);
});
