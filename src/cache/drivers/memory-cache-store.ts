/**
 * The embedded cache driver: records in one `Map`, bounded by entry count and by size, evicted in
 * LRU or LFU order (`eviction-order.ts`), expired records reclaimed in expiry order
 * (`expiry-queue.ts`), tags in an inverted index kept exact on every removal. Atomic by
 * construction: each operation runs to completion in one tick. Per process (`crossProcess: false`).
 */
import { GroundworkError } from '../../core/errors.js';
import type {
  CacheRecord,
  CacheStore,
  CacheStoreCapabilities,
  CacheStoreStats,
  CacheWrite,
} from '../cache-store.js';
import {
  type EvictionOrder,
  type FrequencyBucket,
  LfuOrder,
  LruOrder,
  type OrderLinks,
} from './eviction-order.js';
import { type ExpiringEntry, ExpiryQueue } from './expiry-queue.js';

export interface MemoryCacheStoreOptions {
  /** Which record goes first when a bound is reached: least recently or least frequently used. Default `lru`. */
  eviction?: 'lru' | 'lfu';
  /** Most records held (expired ones included until reclaimed); ≥ 1. Default 10 000. */
  maxEntries?: number;
  /**
   * Most size held, counted as key length + JSON length in characters (bytes for ASCII); a record
   * larger than this alone is refused. ≥ 1. Default 64 MiB (67 108 864). JavaScript objects take
   * a few times their JSON size in the heap: budget the process memory accordingly.
   */
  maxBytes?: number;
  /**
   * How often a timer reclaims expired records, in ms; 0 = never (expired records are still dropped
   * when read, when a write needs room, and two per write). Default 1000. The timer is `unref`ed.
   */
  sweepIntervalMs?: number;
  /** Most expired records one sweep reclaims, so a sweep never blocks the loop long. Default 1000. */
  sweepBatch?: number;
  /**
   * The sweep timer's clock (ms); give it the same clock as the `Cache`. Every other operation
   * receives the time from its caller. Default `Date.now`.
   */
  clock?: () => number;
}

class MemoryEntry implements OrderLinks, ExpiringEntry {
  prev: OrderLinks | undefined = undefined;
  next: OrderLinks | undefined = undefined;
  bucket: FrequencyBucket | undefined = undefined;
  heapIndex = -1;

  constructor(
    readonly key: string,
    public record: CacheRecord,
    public tags: readonly string[],
    public size: number,
    public expiresAtMs: number,
  ) {}
}

/** A record, its tags and its counted size, as `peek` shows them. */
export interface MemoryCacheEntryView {
  readonly record: CacheRecord;
  readonly tags: readonly string[];
  readonly size: number;
}

/** Reclaimed opportunistically by every write, so expired records go even without the timer. */
const RECLAIM_PER_WRITE = 2;

/**
 * Records are stored as the deeply frozen objects `Cache` hands over (no serialisation on reads: a
 * hit returns the same object, measured at ~25 ns against ~1.6 µs to re-parse a 750-byte JSON), so
 * callers share them and cannot change them.
 *
 * @example
 *   const store = new MemoryCacheStore({ eviction: 'lfu', maxEntries: 50_000, maxBytes: 32 * 1024 * 1024 });
 *   const cache = new Cache({ name: 'records', store });
 */
export class MemoryCacheStore implements CacheStore {
  readonly capabilities: CacheStoreCapabilities = { crossProcess: false };
  readonly eviction: 'lru' | 'lfu';
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly #entries = new Map<string, MemoryEntry>();
  readonly #order: EvictionOrder<MemoryEntry>;
  readonly #expiry = new ExpiryQueue<MemoryEntry>();
  readonly #tags = new Map<string, Set<string>>();
  readonly #sweepBatch: number;
  readonly #timer: NodeJS.Timeout | undefined;
  #bytes = 0;
  #evictions = 0;
  #expirations = 0;
  #closed = false;

  constructor(options: MemoryCacheStoreOptions = {}) {
    this.eviction = options.eviction ?? 'lru';
    if (this.eviction !== 'lru' && this.eviction !== 'lfu') {
      throw invalid(`eviction must be "lru" or "lfu", got ${JSON.stringify(options.eviction)}`);
    }
    this.maxEntries = positive('maxEntries', options.maxEntries ?? 10_000, 1);
    this.maxBytes = positive('maxBytes', options.maxBytes ?? 64 * 1024 * 1024, 1);
    this.#sweepBatch = positive('sweepBatch', options.sweepBatch ?? 1_000, 1);
    const interval = positive('sweepIntervalMs', options.sweepIntervalMs ?? 1_000, 0);
    this.#order = this.eviction === 'lru' ? new LruOrder() : new LfuOrder();
    if (interval > 0) {
      const clock = options.clock ?? Date.now;
      this.#timer = setInterval(() => this.sweep(clock()), interval);
      this.#timer.unref();
    }
  }

  get(key: string, nowMs: number): Promise<CacheRecord | undefined> {
    if (this.#closed) return Promise.reject(closedError());
    const entry = this.#entries.get(key);
    if (entry === undefined) return Promise.resolve(undefined);
    if (entry.expiresAtMs <= nowMs) {
      this.#remove(entry);
      this.#expirations++;
      return Promise.resolve(undefined);
    }
    this.#order.touch(entry);
    return Promise.resolve(entry.record);
  }

  set(key: string, write: CacheWrite, nowMs: number): Promise<boolean> {
    if (this.#closed) return Promise.reject(closedError());
    let entry = this.#entries.get(key);
    if (entry !== undefined && entry.expiresAtMs <= nowMs) {
      // Expired: the new record starts afresh (its LFU count too).
      this.#remove(entry);
      this.#expirations++;
      entry = undefined;
    }
    const size = key.length + write.json.length;
    if (size > this.maxBytes) {
      // Never keep the previous value of a key whose new value was refused.
      if (entry !== undefined) this.#remove(entry);
      return Promise.resolve(false);
    }
    this.sweep(nowMs, RECLAIM_PER_WRITE);
    this.#makeRoom(entry, size, nowMs);
    const record: CacheRecord = {
      value: write.value,
      storedAtMs: write.storedAtMs,
      freshUntilMs: write.freshUntilMs,
      staleUntilMs: write.staleUntilMs,
    };
    if (entry === undefined) {
      entry = new MemoryEntry(key, record, write.tags, size, write.staleUntilMs);
      this.#entries.set(key, entry);
      this.#order.add(entry);
      this.#expiry.push(entry);
      for (const tag of write.tags) this.#index(tag, key);
    } else {
      for (const tag of entry.tags) if (!write.tags.includes(tag)) this.#unindex(tag, key);
      for (const tag of write.tags) if (!entry.tags.includes(tag)) this.#index(tag, key);
      this.#bytes -= entry.size;
      entry.record = record;
      entry.tags = write.tags;
      entry.size = size;
      entry.expiresAtMs = write.staleUntilMs;
      this.#expiry.update(entry);
      this.#order.touch(entry);
    }
    this.#bytes += size;
    return Promise.resolve(true);
  }

  delete(key: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(closedError());
    const entry = this.#entries.get(key);
    if (entry !== undefined) this.#remove(entry);
    return Promise.resolve(entry !== undefined);
  }

  deleteByTag(tag: string): Promise<number> {
    if (this.#closed) return Promise.reject(closedError());
    const keys = this.#tags.get(tag);
    if (keys === undefined) return Promise.resolve(0);
    let removed = 0;
    // #remove edits this set: iterate over a copy.
    for (const key of [...keys]) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) {
        this.#remove(entry);
        removed++;
      }
    }
    return Promise.resolve(removed);
  }

  stats(): CacheStoreStats {
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      evictions: this.#evictions,
      expirations: this.#expirations,
    };
  }

  /** Reclaims up to `limit` records expired at `nowMs`, soonest first; returns how many. */
  sweep(nowMs: number, limit = this.#sweepBatch): number {
    let reclaimed = 0;
    for (let entry = this.#expiry.peek(); entry !== undefined && reclaimed < limit; ) {
      if (entry.expiresAtMs > nowMs) break;
      this.#remove(entry);
      this.#expirations++;
      reclaimed++;
      entry = this.#expiry.peek();
    }
    return reclaimed;
  }

  /** Keys in eviction order, next victim first (for tests and diagnostics; O(n)). */
  keys(): string[] {
    return Array.from(this.#order.entries(), (entry) => entry.key);
  }

  /** A record with its tags and size, without counting as an access; undefined when absent. */
  peek(key: string): MemoryCacheEntryView | undefined {
    const entry = this.#entries.get(key);
    return entry && { record: entry.record, tags: entry.tags, size: entry.size };
  }

  /** A copy of the tag index: tag → keys (for tests and diagnostics; O(n)). */
  tagIndex(): Map<string, string[]> {
    return new Map(Array.from(this.#tags, ([tag, keys]) => [tag, [...keys]]));
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#entries.clear();
    this.#order.clear();
    this.#expiry.clear();
    this.#tags.clear();
    this.#bytes = 0;
    return Promise.resolve();
  }

  /**
   * Evicts until a record of `size` fits (replacing `entry`, when given, which is never evicted for
   * its own replacement): expired records first, then in eviction order. Evicting before inserting
   * means a new record is always admitted, even under LFU where it has the lowest count.
   */
  #makeRoom(entry: MemoryEntry | undefined, size: number, nowMs: number): void {
    const overEntries = () => this.#entries.size + (entry === undefined ? 1 : 0) > this.maxEntries;
    const overBytes = () => this.#bytes - (entry?.size ?? 0) + size > this.maxBytes;
    while (overEntries() || overBytes()) {
      const expired = this.#expiry.peek();
      if (expired !== undefined && expired !== entry && expired.expiresAtMs <= nowMs) {
        this.#remove(expired);
        this.#expirations++;
        continue;
      }
      let victim = this.#order.victim();
      if (victim === entry) victim = this.#after(victim!);
      if (victim === undefined) return; // only `entry` is left, and the new size fits by itself
      this.#remove(victim);
      this.#evictions++;
    }
  }

  /** The entry after `entry` in eviction order. */
  #after(entry: MemoryEntry): MemoryEntry | undefined {
    return (entry.next ?? entry.bucket?.next?.head) as MemoryEntry | undefined;
  }

  #remove(entry: MemoryEntry): void {
    this.#entries.delete(entry.key);
    this.#order.remove(entry);
    this.#expiry.remove(entry);
    for (const tag of entry.tags) this.#unindex(tag, entry.key);
    this.#bytes -= entry.size;
  }

  #index(tag: string, key: string): void {
    let keys = this.#tags.get(tag);
    if (keys === undefined) {
      keys = new Set();
      this.#tags.set(tag, keys);
    }
    keys.add(key);
  }

  #unindex(tag: string, key: string): void {
    const keys = this.#tags.get(tag);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.#tags.delete(tag);
  }
}

function positive(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min)
    throw invalid(`${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

function invalid(detail: string): GroundworkError {
  return new GroundworkError('CACHE_ERR_INVALID_OPTIONS', { detail: `MemoryCacheStore: ${detail}.` });
}

function closedError(): GroundworkError {
  return new GroundworkError('CACHE_ERR_STORE_UNAVAILABLE', { detail: 'The cache store is closed.' });
}
