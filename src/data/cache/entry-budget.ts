/**
 * A collection's `cache.maxEntries`: which cached reads of each collection this node stored, in
 * least-recently-used order, so the oldest can be deleted once a collection holds more than its
 * budget. Works over any store (the memory store's own bounds are global; Redis has none per
 * collection). Per node: on Redis, N nodes may together keep up to N × maxEntries of a collection.
 */
export class EntryBudget {
  readonly #keys = new Map<string, Map<string, true>>();

  /** Records that `key` of `collection` was stored; returns the keys to delete to stay within `max`. */
  stored(collection: string, key: string, max: number | undefined): string[] {
    let keys = this.#keys.get(collection);
    if (keys === undefined) {
      keys = new Map();
      this.#keys.set(collection, keys);
    }
    keys.delete(key);
    keys.set(key, true);
    if (max === undefined) {
      // No budget: nothing to track (the store's own bounds apply).
      this.#keys.delete(collection);
      return [];
    }
    const evicted: string[] = [];
    for (const old of keys.keys()) {
      if (keys.size <= max) break;
      keys.delete(old);
      evicted.push(old);
    }
    return evicted;
  }

  /** Marks `key` as just used (a hit). */
  used(collection: string, key: string): void {
    const keys = this.#keys.get(collection);
    if (keys?.delete(key)) keys.set(key, true);
  }

  /** Forgets a collection's keys (its entries were dropped). */
  forget(collection: string): void {
    this.#keys.delete(collection);
  }

  /** Keys tracked for a collection (tests, diagnostics). */
  size(collection: string): number {
    return this.#keys.get(collection)?.size ?? 0;
  }
}
