/**
 * The cache's Prometheus metrics, registered once per registry (prom-client refuses a second
 * registration of a name) and shared by every `Cache` on it. Counters are labelled by `cache` (the
 * cache's name) and `scope` (what the caller passes per call, e.g. a collection name, so the data
 * API can report per collection); sizes and evictions are per cache, read from the store at scrape
 * time. Metric names:
 *
 * - `cache_hits_total{cache,scope}`: fresh values served (a cached not-found counts as a hit).
 * - `cache_misses_total{cache,scope}`: lookups that found nothing fresh or stale.
 * - `cache_stale_serves_total{cache,scope}`: stale values served while a refresh runs.
 * - `cache_loads_total{cache,scope,trigger}`: loader calls, `trigger` = `miss` | `refresh`.
 * - `cache_load_errors_total{cache,scope,trigger}`: loader calls that threw.
 * - `cache_store_errors_total{cache,scope}`: store failures a read survived (fail-open).
 * - `cache_evictions_total{cache,reason}`: `capacity` (entry/byte bound) | `expired`.
 * - `cache_entries{cache}`, `cache_bytes{cache}`: what the store holds (memory driver only).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CacheStoreStats } from './cache-store.js';

/** The counters of one (cache, scope), resolved once and reused on the hot path. */
export interface ScopeCounters {
  readonly hits: Counter.Internal;
  readonly misses: Counter.Internal;
  readonly staleServes: Counter.Internal;
  readonly loads: Counter.Internal;
  readonly refreshes: Counter.Internal;
  readonly loadErrors: Counter.Internal;
  readonly refreshErrors: Counter.Internal;
  readonly storeErrors: Counter.Internal;
}

interface Source {
  stats: () => CacheStoreStats | undefined;
  /** The last scraped cumulative removals, to add only the difference to the counters. */
  evictions: number;
  expirations: number;
}

/**
 * @example
 *   const cacheMetrics = new CacheMetrics(metrics.registry);
 *   const records = new Cache({ name: 'records', store, metrics: cacheMetrics });
 *   await records.getOrLoad(key, load, { ttlMs: 30_000, scope: 'posts' });
 */
export class CacheMetrics {
  readonly #hits: Counter<'cache' | 'scope'>;
  readonly #misses: Counter<'cache' | 'scope'>;
  readonly #staleServes: Counter<'cache' | 'scope'>;
  readonly #loads: Counter<'cache' | 'scope' | 'trigger'>;
  readonly #loadErrors: Counter<'cache' | 'scope' | 'trigger'>;
  readonly #storeErrors: Counter<'cache' | 'scope'>;
  readonly #evictions: Counter<'cache' | 'reason'>;
  readonly #sources = new Map<string, Source>();
  readonly #scopes = new Map<string, ScopeCounters>();

  constructor(registry: Registry) {
    const registers = [registry];
    const sources = this.#sources;
    this.#hits = new Counter({
      name: 'cache_hits_total',
      help: 'Fresh cache values served (cached not-found included), by cache and scope.',
      labelNames: ['cache', 'scope'],
      registers,
    });
    this.#misses = new Counter({
      name: 'cache_misses_total',
      help: 'Cache lookups that found no fresh or stale value, by cache and scope.',
      labelNames: ['cache', 'scope'],
      registers,
    });
    this.#staleServes = new Counter({
      name: 'cache_stale_serves_total',
      help: 'Stale cache values served while one background refresh runs (stale-while-revalidate).',
      labelNames: ['cache', 'scope'],
      registers,
    });
    this.#loads = new Counter({
      name: 'cache_loads_total',
      help: 'Loader calls (one per single flight), by trigger: miss or refresh.',
      labelNames: ['cache', 'scope', 'trigger'],
      registers,
    });
    this.#loadErrors = new Counter({
      name: 'cache_load_errors_total',
      help: 'Loader calls that failed, by trigger: miss (propagated) or refresh (stale kept).',
      labelNames: ['cache', 'scope', 'trigger'],
      registers,
    });
    this.#storeErrors = new Counter({
      name: 'cache_store_errors_total',
      help: 'Cache store failures survived by falling back to the loader or skipping the write.',
      labelNames: ['cache', 'scope'],
      registers,
    });
    this.#evictions = new Counter({
      name: 'cache_evictions_total',
      help: 'Cache entries removed: capacity (entry or byte bound) or expired.',
      labelNames: ['cache', 'reason'],
      registers,
      collect() {
        for (const [cache, source] of sources) {
          const stats = source.stats();
          if (stats === undefined) continue;
          if (stats.evictions > source.evictions) {
            this.inc({ cache, reason: 'capacity' }, stats.evictions - source.evictions);
            source.evictions = stats.evictions;
          }
          if (stats.expirations > source.expirations) {
            this.inc({ cache, reason: 'expired' }, stats.expirations - source.expirations);
            source.expirations = stats.expirations;
          }
        }
      },
    });
    new Gauge({
      name: 'cache_entries',
      help: 'Entries held by the cache store (memory driver; expired ones until reclaimed).',
      labelNames: ['cache'],
      registers,
      collect() {
        this.reset(); // a closed cache's series disappears
        for (const [cache, source] of sources) {
          const stats = source.stats();
          if (stats !== undefined) this.set({ cache }, stats.entries);
        }
      },
    });
    new Gauge({
      name: 'cache_bytes',
      help: 'Size held by the cache store: key + JSON value lengths (memory driver).',
      labelNames: ['cache'],
      registers,
      collect() {
        this.reset(); // a closed cache's series disappears
        for (const [cache, source] of sources) {
          const stats = source.stats();
          if (stats !== undefined) this.set({ cache }, stats.bytes);
        }
      },
    });
  }

  /** Called by `Cache`'s constructor: sizes of `cache` come from `stats` at each scrape. */
  register(cache: string, stats: () => CacheStoreStats | undefined): void {
    if (this.#sources.has(cache)) {
      throw new Error(`CacheMetrics: a cache named ${JSON.stringify(cache)} is already registered`);
    }
    const initial = stats();
    this.#sources.set(cache, {
      stats,
      evictions: initial?.evictions ?? 0,
      expirations: initial?.expirations ?? 0,
    });
  }

  /** Stops reading the sizes of `cache` (called by `Cache.close`). */
  unregister(cache: string): void {
    this.#sources.delete(cache);
  }

  /** The counters of one (cache, scope); children are created once and kept. */
  scope(cache: string, scope: string): ScopeCounters {
    const id = `${cache}\u0000${scope}`;
    let counters = this.#scopes.get(id);
    if (counters === undefined) {
      const labels = { cache, scope };
      counters = {
        hits: this.#hits.labels(labels),
        misses: this.#misses.labels(labels),
        staleServes: this.#staleServes.labels(labels),
        loads: this.#loads.labels({ ...labels, trigger: 'miss' }),
        refreshes: this.#loads.labels({ ...labels, trigger: 'refresh' }),
        loadErrors: this.#loadErrors.labels({ ...labels, trigger: 'miss' }),
        refreshErrors: this.#loadErrors.labels({ ...labels, trigger: 'refresh' }),
        storeErrors: this.#storeErrors.labels(labels),
      };
      this.#scopes.set(id, counters);
    }
    return counters;
  }
}
