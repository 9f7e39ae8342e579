/**
 * A bounded map whose entries are valid until a deadline: the "trusted for a few seconds" caches
 * of the request path (verified API keys, verified access tokens, refresh-family status, users).
 * Time is the caller's `nowMs`, so tests drive it with their own clock. An expired entry is
 * dropped when it is read; when the map is full, `set` drops the oldest entry (insertion order, so
 * a re-set key counts as new). Nothing runs in the background.
 *
 * @example
 *   const verified = new ExpiringMap<string, ApiKeyRecord>(10_000);
 *   verified.set(hash, record, nowMs + 5_000);
 *   verified.get(hash, nowMs); // the record until the deadline, then undefined
 */
export class ExpiringMap<K, V> {
  readonly maxEntries: number;
  readonly #entries = new Map<K, { value: V; untilMs: number }>();

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    }
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value while `nowMs` is before its deadline; undefined (and the entry dropped) after. */
  get(key: K, nowMs: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.untilMs > nowMs) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Stores `value` until `untilMs` (exclusive), dropping the oldest entry when full. */
  set(key: K, value: V, untilMs: number): void {
    if (!this.#entries.delete(key) && this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, untilMs });
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  /** Drops every entry whose value matches (e.g. all cached keys of one owner). */
  deleteWhere(matches: (value: V, key: K) => boolean): void {
    for (const [key, entry] of this.#entries) if (matches(entry.value, key)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
