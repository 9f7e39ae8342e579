import { describe, expect, it } from 'vitest';
import { redactConfig, resolveConfig } from '../../src/core/config.js';

/** The `cache` and `bus` sections of the configuration: defaults, environment, URL fallbacks, checks. */
describe('cache and bus configuration', () => {
  it('defaults to one node: memory cache, in-process generations, memory bus', () => {
    const config = resolveConfig({});
    expect(config.cache).toEqual({
      driver: 'memory',
      keyPrefix: 'gw:',
      memory: { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, eviction: 'lru' },
      invalidationTimeoutMs: 2_000,
    });
    expect(config.bus).toEqual({ driver: 'memory' });
  });

  it('reads the environment; the bus falls back to the cache Redis or the PostgreSQL database', () => {
    const env = {
      GROUNDWORK_CACHE_DRIVER: 'redis',
      GROUNDWORK_CACHE_URL: 'redis://:secret@127.0.0.1:6379/2',
      GROUNDWORK_CACHE_MAX_ENTRIES: '500',
      GROUNDWORK_CACHE_EVICTION: 'lfu',
      GROUNDWORK_BUS_DRIVER: 'redis',
    };
    const config = resolveConfig({ env });
    expect(config.cache).toMatchObject({ driver: 'redis', memory: { maxEntries: 500, eviction: 'lfu' } });
    expect(config.bus.url).toBe('redis://:secret@127.0.0.1:6379/2');
    expect(redactConfig(config).cache.url).toBe('redis://:REDACTED@127.0.0.1:6379/2');
    expect(redactConfig(config).bus.url).toBe('redis://:REDACTED@127.0.0.1:6379/2');
    const pg = resolveConfig({
      env: { GROUNDWORK_DB_URL: 'postgres://u:p@127.0.0.1:5432/gw', GROUNDWORK_BUS_DRIVER: 'postgres' },
    });
    expect(pg.bus).toEqual({ driver: 'postgres', url: 'postgres://u:p@127.0.0.1:5432/gw' });
  });

  it('refuses a Redis driver without a Redis URL, and a bad URL or bound', () => {
    const cases: Record<string, string>[] = [
      { GROUNDWORK_CACHE_DRIVER: 'redis' },
      { GROUNDWORK_BUS_DRIVER: 'redis' },
      { GROUNDWORK_BUS_DRIVER: 'postgres' },
      { GROUNDWORK_CACHE_URL: 'http://127.0.0.1' },
      { GROUNDWORK_CACHE_MAX_ENTRIES: '0' },
      { GROUNDWORK_CACHE_EVICTION: 'fifo' },
    ];
    for (const env of cases) {
      expect(() => resolveConfig({ env }), JSON.stringify(env)).toThrowError(
        expect.objectContaining({ code: 'CONFIG_ERR_INVALID' }),
      );
    }
  });
});
