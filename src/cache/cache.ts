/**
 * The portable cache, written once over any `CacheStore`: validates keys, tags, TTLs and values,
 * applies TTL jitter, and implements `getOrLoad` with single flight, stale-while-revalidate and
 * negative caching. Reads fail open (a store failure is a miss, counted); writes and invalidations
 * report store failures as `CACHE_ERR_STORE_UNAVAILABLE`. Counts everything in `counters` and, when
 * given a `CacheMetrics`, in Prometheus.
 */
import { GroundworkError, isGroundworkError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { CacheMetrics, ScopeCounters } from './cache-metrics.js';
import type { CacheRecord, CacheStore, CacheWrite } from './cache-store.js';
import { checkDuration, checkKey, checkTags, encodeValue } from './cache-values.js';

export interface CacheOptions {
  store: CacheStore;
  /** The `cache` label of the metrics; unique per `CacheMetrics`. Default `default`. */
  name?: string;
  /** Milliseconds (fractions are floored). Default `Date.now`. */
  clock?: () => number;
  /**
   * Each TTL is multiplied by a random factor in [1 − jitter, 1 + jitter], so entries set together
   * do not expire together (no synchronised reloads). 0 = exact TTLs; at most 0.5. Default 0.1.
   */
  jitter?: number;
  /** Source of the jitter, in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Longest key, in characters. Default 1024 (hash longer inputs, e.g. query strings, into the key). */
  maxKeyLength?: number;
  /**
   * Longest value, as JSON characters. `set` refuses a longer one (`CACHE_ERR_VALUE_TOO_LARGE`);
   * `getOrLoad` returns it uncached (counted in `oversized`). Default 1 MiB (1 048 576).
   */
  maxValueBytes?: number;
  metrics?: CacheMetrics;
  /** Called with every store failure a read survived and every failed background refresh, to log it. */
  onError?: (error: unknown, event: CacheErrorEvent) => void;
}

export interface CacheErrorEvent {
  readonly operation: 'get' | 'set' | 'delete' | 'refresh';
  readonly key: string;
}

/** Per call: the `scope` label of the metrics (e.g. the collection). Default `default`. */
export interface CacheReadOptions {
  scope?: string;
}

export interface CacheSetOptions extends CacheReadOptions {
  /** Names to invalidate the entry by, with `deleteByTag`. */
  tags?: readonly string[];
  /** After the TTL, the entry may still be served stale by `getOrLoad` for this many ms. Default 0. */
  staleMs?: number;
}

export interface GetOrLoadOptions extends CacheSetOptions {
  /** How long a loaded value is fresh, in ms (≥ 1; jittered). */
  ttlMs: number;
  /**
   * How long a "not found" (the loader resolved `undefined`) is cached, in ms (jittered); 0 = not
   * cached. Default 0.
   */
  negativeTtlMs?: number;
}

/** Running totals since the cache was created. */
export interface CacheCounters {
  /** Fresh values served, cached not-found included. */
  hits: number;
  /** Lookups that found nothing fresh (and, for `getOrLoad`, nothing stale). */
  misses: number;
  /** Stale values served by `getOrLoad` while a refresh runs. */
  staleServes: number;
  /** Loader calls for a miss (one per flight). */
  loads: number;
  /** Of those, failed (the error went to every waiter). */
  loadErrors: number;
  /** Background refreshes started for a stale value. */
  refreshes: number;
  /** Of those, failed (the stale value stays until its grace ends). */
  refreshErrors: number;
  /** Store failures survived: a read treated as a miss, or a loaded value not stored. */
  storeErrors: number;
  /** Loaded values returned uncached: larger than `maxValueBytes` or refused by the store. */
  oversized: number;
  /**
   * `getOrLoad` calls that joined a flight already running for their key. Hits, misses and loads
   * count flights, not calls: a flight's outcome is counted once however many calls share it.
   */
  coalesced: number;
}

interface Flight {
  promise: Promise<unknown>;
  readonly tags: readonly string[];
  /** Set by a delete, tag deletion or explicit set meanwhile: the result must not be stored. */
  invalidated: boolean;
}

/**
 * @example
 *   const cache = new Cache({ name: 'records', store: new MemoryCacheStore({ maxEntries: 50_000 }) });
 *   const post = await cache.getOrLoad(`posts:${id}`, () => loadPost(id), {
 *     ttlMs: 30_000, staleMs: 5_000, negativeTtlMs: 1_000, tags: ['collection:posts'], scope: 'posts',
 *   });
 *   // after a write:
 *   await cache.deleteByTag('collection:posts');
 *
 * Values are JSON data, copied and deeply frozen on the way in: what any read returns (including
 * the value a loader just produced) is an immutable copy shared by all readers; mutating it throws.
 */
export class Cache implements Component {
  readonly name: string;
  readonly store: CacheStore;
  readonly #clock: () => number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #maxKeyLength: number;
  readonly #maxValueBytes: number;
  readonly #metrics: CacheMetrics | undefined;
  readonly #onError: CacheOptions['onError'];
  /** Lookups and loads for a miss, by key: one per key at a time (single flight). */
  readonly #flights = new Map<string, Flight>();
  /** Background refreshes of stale values, by key: one per key at a time. */
  readonly #refreshes = new Map<string, Flight>();
  /** Every refresh still running, detached ones included (for `idle` and `close`). */
  readonly #background = new Set<Promise<unknown>>();
  readonly #counters: CacheCounters = {
    hits: 0,
    misses: 0,
    staleServes: 0,
    loads: 0,
    loadErrors: 0,
    refreshes: 0,
    refreshErrors: 0,
    storeErrors: 0,
    oversized: 0,
    coalesced: 0,
  };
  #closed = false;

  constructor(options: CacheOptions) {
    this.store = options.store;
    this.name = options.name ?? 'default';
    this.#clock = options.clock ?? Date.now;
    this.#jitter = options.jitter ?? 0.1;
    if (!(this.#jitter >= 0 && this.#jitter <= 0.5)) {
      throw new GroundworkError('CACHE_ERR_INVALID_OPTIONS', {
        detail: `jitter must be a fraction from 0 to 0.5, got ${options.jitter}.`,
      });
    }
    this.#random = options.random ?? Math.random;
    this.#maxKeyLength = options.maxKeyLength ?? 1024;
    this.#maxValueBytes = options.maxValueBytes ?? 1024 * 1024;
    checkDuration('maxKeyLength', this.#maxKeyLength, false);
    checkDuration('maxValueBytes', this.#maxValueBytes, false);
    this.#metrics = options.metrics;
    this.#onError = options.onError;
    const store = this.store;
    this.#metrics?.register(this.name, () => store.stats?.());
  }

  /** A snapshot of the counters. */
  get counters(): Readonly<CacheCounters> {
    return { ...this.#counters };
  }

  /** Starts the store (connects to Redis); a no-op for the memory store. */
  async start(): Promise<void> {
    await this.store.start?.();
  }

  /** Readiness of the store. */
  async check(): Promise<string | undefined> {
    return this.store.check?.();
  }

  /**
   * The fresh value under `key`, or undefined on a miss, a cached not-found, or a store failure
   * (counted in `storeErrors`). Never serves stale values.
   */
  async get<T = unknown>(key: string, options: CacheReadOptions = {}): Promise<T | undefined> {
    checkKey(key, this.#maxKeyLength);
    const scope = this.#scope(options.scope);
    const record = await this.#read(key, scope);
    if (record !== undefined && this.#now() < record.freshUntilMs) {
      this.#hit(scope);
      return record.value as T | undefined;
    }
    this.#miss(scope);
    return undefined;
  }

  /**
   * Stores `value` under `key` for `ttlMs` (jittered), replacing any value and tags. A load of `key`
   * running meanwhile will not overwrite it. Resolves false when the store refused it (larger than
   * its own bound). Rejects with `CACHE_ERR_VALUE_TOO_LARGE`, `CACHE_ERR_INVALID_VALUE`, or
   * `CACHE_ERR_STORE_UNAVAILABLE`.
   */
  async set(key: string, value: unknown, ttlMs: number, options: CacheSetOptions = {}): Promise<boolean> {
    checkKey(key, this.#maxKeyLength);
    checkDuration('ttlMs', ttlMs, false);
    const staleMs = options.staleMs ?? 0;
    checkDuration('staleMs', staleMs, true);
    const tags = checkTags(options.tags);
    const { json, copy } = encodeValue(value);
    if (json.length > this.#maxValueBytes) {
      throw new GroundworkError('CACHE_ERR_VALUE_TOO_LARGE', {
        detail: `A cache value of ${json.length} JSON characters exceeds maxValueBytes (${this.#maxValueBytes}).`,
      });
    }
    this.#invalidateKey(key);
    try {
      return await this.#write(key, copy, json, tags, ttlMs, staleMs);
    } catch (cause) {
      throw unavailable(cause);
    }
  }

  /**
   * Removes `key`. Loads of it already running will not store their result, and later callers do
   * not join them. Rejects with `CACHE_ERR_STORE_UNAVAILABLE` when the store failed: the old value
   * may then still be served until its TTL ends.
   */
  async delete(key: string): Promise<boolean> {
    checkKey(key, this.#maxKeyLength);
    this.#invalidateKey(key);
    try {
      return await this.store.delete(key);
    } catch (cause) {
      throw unavailable(cause);
    }
  }

  /** Removes every entry tagged `tag`; like `delete` for each. Resolves how many were removed. */
  async deleteByTag(tag: string): Promise<number> {
    checkTags([tag]);
    for (const flights of [this.#flights, this.#refreshes]) {
      for (const [key, flight] of flights) {
        if (flight.tags.includes(tag)) detach(flights, key, flight);
      }
    }
    try {
      return await this.store.deleteByTag(tag);
    } catch (cause) {
      throw unavailable(cause);
    }
  }

  /**
   * The value under `key`, loading it with `loader` on a miss and caching it.
   *
   * - Single flight: concurrent calls for one key share one store lookup and at most one `loader`
   *   call (per process); the first caller's options apply. A loader error is not cached and
   *   rejects every waiter of that flight.
   * - Stale-while-revalidate: within `staleMs` after the TTL, the stale value is returned at once and
   *   one background refresh runs; a failed refresh is counted (`refreshErrors`, `onError`) and the
   *   stale value keeps being served (the next stale read retries) until the grace ends.
   * - Negative caching: a loader resolving `undefined` means "not found", cached for
   *   `negativeTtlMs` when > 0; a refresh finding nothing removes the stale value.
   * - Fail-open: if the store fails, the loader answers (counted in `storeErrors`).
   */
  getOrLoad<T>(
    key: string,
    loader: () => Promise<T | undefined> | T | undefined,
    options: GetOrLoadOptions,
  ): Promise<T | undefined> {
    const existing = this.#flights.get(key);
    if (existing !== undefined) {
      this.#counters.coalesced++;
      return existing.promise as Promise<T | undefined>;
    }
    let tags: readonly string[];
    try {
      checkKey(key, this.#maxKeyLength);
      checkDuration('ttlMs', options.ttlMs, false);
      checkDuration('staleMs', options.staleMs ?? 0, true);
      checkDuration('negativeTtlMs', options.negativeTtlMs ?? 0, true);
      tags = checkTags(options.tags);
    } catch (error) {
      return Promise.reject(error);
    }
    const flight: Flight = { promise: undefined as unknown as Promise<unknown>, tags, invalidated: false };
    this.#flights.set(key, flight);
    flight.promise = this.#lookupOrLoad(key, loader, options, flight).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    return flight.promise as Promise<T | undefined>;
  }

  /** Resolves once the background refreshes running now have finished (stored or failed). */
  async idle(): Promise<void> {
    await Promise.allSettled(this.#background);
  }

  /** Waits for background refreshes, then closes the store. Later reads fall back to loaders. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.idle();
    this.#metrics?.unregister(this.name);
    await this.store.close();
  }

  async #lookupOrLoad<T>(
    key: string,
    loader: () => Promise<T | undefined> | T | undefined,
    options: GetOrLoadOptions,
    flight: Flight,
  ): Promise<T | undefined> {
    const scope = this.#scope(options.scope);
    const record = await this.#read(key, scope);
    if (record !== undefined) {
      const now = this.#now();
      if (now < record.freshUntilMs) {
        this.#hit(scope);
        return record.value as T | undefined;
      }
      if (now < record.staleUntilMs) {
        this.#counters.staleServes++;
        scope?.staleServes.inc();
        this.#refresh(key, loader, options, flight.tags, scope);
        return record.value as T | undefined;
      }
    }
    this.#miss(scope);
    this.#counters.loads++;
    scope?.loads.inc();
    let value: T | undefined;
    try {
      value = await loader();
    } catch (error) {
      this.#counters.loadErrors++;
      scope?.loadErrors.inc();
      throw error;
    }
    return this.#storeLoaded(key, value, options, flight, scope, false);
  }

  /** Starts one background refresh of `key` unless one is running. */
  #refresh<T>(
    key: string,
    loader: () => Promise<T | undefined> | T | undefined,
    options: GetOrLoadOptions,
    tags: readonly string[],
    scope: ScopeCounters | undefined,
  ): void {
    if (this.#closed || this.#refreshes.has(key)) return;
    const flight: Flight = { promise: undefined as unknown as Promise<unknown>, tags, invalidated: false };
    this.#refreshes.set(key, flight);
    this.#counters.refreshes++;
    scope?.refreshes.inc();
    flight.promise = (async () => {
      try {
        const value = await loader();
        await this.#storeLoaded(key, value, options, flight, scope, true);
      } catch (error) {
        this.#counters.refreshErrors++;
        scope?.refreshErrors.inc();
        this.#report(error, 'refresh', key);
      } finally {
        if (this.#refreshes.get(key) === flight) this.#refreshes.delete(key);
        this.#background.delete(flight.promise);
      }
    })();
    this.#background.add(flight.promise);
  }

  /**
   * Caches what a loader returned (unless the flight was invalidated) and returns the frozen copy
   * every waiter gets. Store failures are survived (counted); a non-JSON value rejects the flight.
   */
  async #storeLoaded<T>(
    key: string,
    value: T | undefined,
    options: GetOrLoadOptions,
    flight: Flight,
    scope: ScopeCounters | undefined,
    refreshing: boolean,
  ): Promise<T | undefined> {
    if (value === undefined) {
      const negativeTtlMs = options.negativeTtlMs ?? 0;
      if (flight.invalidated) return undefined;
      if (negativeTtlMs > 0) {
        await this.#survive(this.#write(key, undefined, '', flight.tags, negativeTtlMs, 0), key, scope);
      } else if (refreshing) {
        // The value is gone at the source: stop serving it stale.
        await this.#survive(this.store.delete(key), key, scope);
      }
      return undefined;
    }
    let encoded: { json: string; copy: unknown };
    try {
      encoded = encodeValue(value);
    } catch (error) {
      // Like a loader error (a refresh counts its own in #refresh).
      if (!refreshing) {
        this.#counters.loadErrors++;
        scope?.loadErrors.inc();
      }
      throw error;
    }
    const { json, copy } = encoded;
    if (flight.invalidated) return copy as T;
    if (json.length > this.#maxValueBytes) {
      this.#counters.oversized++;
      // Do not leave an older value behind one too large to cache.
      if (refreshing) await this.#survive(this.store.delete(key), key, scope);
      return copy as T;
    }
    const write = this.#write(key, copy, json, flight.tags, options.ttlMs, options.staleMs ?? 0);
    if ((await this.#survive(write, key, scope)) === false) this.#counters.oversized++;
    return copy as T;
  }

  /** Awaits a store write; a failure is counted and reported, and resolves undefined. */
  async #survive<R>(
    write: Promise<R>,
    key: string,
    scope: ScopeCounters | undefined,
  ): Promise<R | undefined> {
    try {
      return await write;
    } catch (error) {
      this.#counters.storeErrors++;
      scope?.storeErrors.inc();
      this.#report(error, 'set', key);
      return undefined;
    }
  }

  #write(
    key: string,
    value: unknown,
    json: string,
    tags: readonly string[],
    ttlMs: number,
    staleMs: number,
  ): Promise<boolean> {
    const now = this.#now();
    const freshUntilMs = now + this.#jittered(ttlMs);
    const write: CacheWrite = {
      value,
      json,
      tags,
      storedAtMs: now,
      freshUntilMs,
      staleUntilMs: freshUntilMs + staleMs,
    };
    return this.store.set(key, write, now);
  }

  /** The store's record, or undefined on a store failure (fail-open, counted). */
  async #read(key: string, scope: ScopeCounters | undefined): Promise<CacheRecord | undefined> {
    try {
      return await this.store.get(key, this.#now());
    } catch (error) {
      this.#counters.storeErrors++;
      scope?.storeErrors.inc();
      this.#report(error, 'get', key);
      return undefined;
    }
  }

  #jittered(ttlMs: number): number {
    if (this.#jitter === 0) return ttlMs;
    const factor = 1 + this.#jitter * (2 * this.#random() - 1);
    return Math.max(1, Math.round(ttlMs * factor));
  }

  /** Marks and detaches the flights of `key`: their results are not stored, new callers start anew. */
  #invalidateKey(key: string): void {
    for (const flights of [this.#flights, this.#refreshes]) {
      const flight = flights.get(key);
      if (flight !== undefined) detach(flights, key, flight);
    }
  }

  #now(): number {
    return Math.floor(this.#clock());
  }

  #scope(scope: string | undefined): ScopeCounters | undefined {
    return this.#metrics?.scope(this.name, scope ?? 'default');
  }

  #hit(scope: ScopeCounters | undefined): void {
    this.#counters.hits++;
    scope?.hits.inc();
  }

  #miss(scope: ScopeCounters | undefined): void {
    this.#counters.misses++;
    scope?.misses.inc();
  }

  #report(error: unknown, operation: CacheErrorEvent['operation'], key: string): void {
    try {
      this.#onError?.(error, { operation, key });
    } catch {
      // A failing observer must not turn a survived failure into an exception.
    }
  }
}

function detach(flights: Map<string, Flight>, key: string, flight: Flight): void {
  flight.invalidated = true;
  flights.delete(key);
}

function unavailable(cause: unknown): GroundworkError {
  if (isGroundworkError(cause)) return cause;
  return new GroundworkError('CACHE_ERR_STORE_UNAVAILABLE', {
    detail: 'The cache store did not answer.',
    cause,
  });
}
