/**
 * The memory cache's expiry index: a binary min-heap of entries by the time they stop being
 * servable (`expiresAtMs`), with each entry's position stored on the entry, so the soonest expiry is
 * found in O(1), and insertion, removal and re-keying take O(log n). It lets the store reclaim
 * expired entries in order, a bounded number at a time, without scanning the live ones.
 */

export interface ExpiringEntry {
  expiresAtMs: number;
  /** Position in the heap; -1 when not in it. */
  heapIndex: number;
}

export class ExpiryQueue<E extends ExpiringEntry> {
  readonly #heap: E[] = [];

  get size(): number {
    return this.#heap.length;
  }

  /** The entry that expires first, or undefined when empty. */
  peek(): E | undefined {
    return this.#heap[0];
  }

  push(entry: E): void {
    entry.heapIndex = this.#heap.length;
    this.#heap.push(entry);
    this.#up(entry.heapIndex);
  }

  /** Restores the order after `entry.expiresAtMs` changed. */
  update(entry: E): void {
    this.#down(this.#up(entry.heapIndex));
  }

  remove(entry: E): void {
    const index = entry.heapIndex;
    if (index < 0) return;
    const last = this.#heap.pop()!;
    entry.heapIndex = -1;
    if (last === entry) return;
    this.#heap[index] = last;
    last.heapIndex = index;
    this.#down(this.#up(index));
  }

  clear(): void {
    for (const entry of this.#heap) entry.heapIndex = -1;
    this.#heap.length = 0;
  }

  /** Moves the entry at `index` up while it expires before its parent; returns its final index. */
  #up(index: number): number {
    const heap = this.#heap;
    const entry = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.expiresAtMs <= entry.expiresAtMs) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = entry;
    entry.heapIndex = index;
    return index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const entry = heap[index]!;
    const length = heap.length;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      const right = child + 1;
      if (right < length && heap[right]!.expiresAtMs < heap[child]!.expiresAtMs) child = right;
      if (heap[child]!.expiresAtMs >= entry.expiresAtMs) break;
      heap[index] = heap[child]!;
      heap[index]!.heapIndex = index;
      index = child;
    }
    heap[index] = entry;
    entry.heapIndex = index;
  }
}
