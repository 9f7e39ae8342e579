/**
 * The cache port: the few operations a driver must do atomically in its engine. Everything else
 * (validation, serialisation, TTL jitter, single flight, stale-while-revalidate, negative caching,
 * fail-open reads, metrics) is written once in `Cache` (`cache.ts`).
 *
 * Time comes from the caller (`nowMs`, the `Cache`'s clock), never from the engine, so tests inject
 * a clock and both drivers judge freshness identically. The engine only enforces the physical
 * lifetime (`staleUntilMs - nowMs`, e.g. Redis `PX`); whether a kept record is fresh or stale is
 * decided by the `Cache` from the record's own metadata.
 */

/**
 * One stored record. `value` is JSON data, deeply frozen (drivers return it as is: callers must not
 * and cannot mutate it); `undefined` marks a cached "not found" (negative caching). Times are in ms
 * on the writer's clock: fresh while `nowMs < freshUntilMs`, servable as stale while
 * `nowMs < staleUntilMs`, gone after (`staleUntilMs ≥ freshUntilMs`).
 */
export interface CacheRecord {
  readonly value: unknown;
  readonly storedAtMs: number;
  readonly freshUntilMs: number;
  readonly staleUntilMs: number;
}

/** What `set` stores: the record plus its JSON (already validated and size-checked by `Cache`). */
export interface CacheWrite extends CacheRecord {
  /** `JSON.stringify(value)`; `''` for a not-found marker. Its length is the value's size. */
  readonly json: string;
  /** Tags for `deleteByTag`; validated (non-empty, no line breaks), without duplicates. */
  readonly tags: readonly string[];
}

/** What a driver can do, declared by the driver (never inferred from its name). */
export interface CacheStoreCapabilities {
  /** Several processes using the same store see each other's entries (Redis: yes; memory: no). */
  readonly crossProcess: boolean;
}

/** Sizes and cumulative removals, for the `cache_entries`/`cache_bytes`/`cache_evictions_total` metrics. */
export interface CacheStoreStats {
  /** Records held, expired ones included until reclaimed. */
  readonly entries: number;
  /** Sum over records of key length + JSON length (characters; bytes for ASCII). */
  readonly bytes: number;
  /** Records removed to respect the entry or byte bound, since the store was created. */
  readonly evictions: number;
  /** Records removed because their `staleUntilMs` had passed, since the store was created. */
  readonly expirations: number;
}

/**
 * The port. Preconditions, checked by `Cache` (drivers assume them): keys and tags are valid
 * (`cache-values.ts`), `nowMs` is an integer, `staleUntilMs > nowMs` on `set`.
 */
export interface CacheStore {
  readonly capabilities: CacheStoreCapabilities;
  /** The record under `key` (fresh or stale) if held and `nowMs < staleUntilMs`, else undefined. */
  get(key: string, nowMs: number): Promise<CacheRecord | undefined>;
  /**
   * Replaces `key`'s record and tags in one step (old tag memberships dropped, new ones added) and
   * keeps it until `staleUntilMs`. Resolves false when the store refused it (larger than its bound).
   */
  set(key: string, write: CacheWrite, nowMs: number): Promise<boolean>;
  /** Removes `key` and its tag memberships; resolves true when a record was there. */
  delete(key: string): Promise<boolean>;
  /**
   * Removes every record currently tagged `tag`, atomically with respect to `set` (a record set
   * with the tag before this call is gone after it); resolves how many were removed.
   */
  deleteByTag(tag: string): Promise<number>;
  /** Sizes for metrics, when the driver knows them cheaply (the memory driver does; Redis does not). */
  stats?(): CacheStoreStats;
  /** Opens connections, if any. Idempotent. */
  start?(): Promise<void>;
  /** Readiness of the engine: undefined when ready, else the reason. */
  check?(): Promise<string | undefined>;
  /** Releases connections and timers; later operations fail. Idempotent. */
  close(): Promise<void>;
}
