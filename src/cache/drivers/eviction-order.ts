/**
 * The memory cache's two eviction orders, both O(1) per operation, over intrusive doubly linked
 * lists (the entries carry their own links, so no per-access allocation):
 *
 * - `LruOrder`: least recently used first. One list; an access moves the entry to the tail.
 * - `LfuOrder`: least frequently used first, least recently used among equals: the O(1) LFU of
 *   Shah, Mitra and Matani (2010): a list of frequency buckets in ascending order, each holding its
 *   entries in recency order; an access moves the entry to the bucket of frequency + 1 (created next
 *   to its own when missing) and drops its old bucket if empty. Frequencies are counted since the
 *   entry was inserted (a replaced value keeps its count) and never decay: a once-hot key that went
 *   cold stays until its TTL ends or it is deleted. Choose LRU for shifting working sets.
 */

/** The links an entry carries; owned by the order it is in. */
export interface OrderLinks {
  prev: OrderLinks | undefined;
  next: OrderLinks | undefined;
  /** LFU only: the entry's frequency bucket. */
  bucket: FrequencyBucket | undefined;
}

export interface FrequencyBucket {
  readonly frequency: number;
  head: OrderLinks | undefined;
  tail: OrderLinks | undefined;
  prev: FrequencyBucket | undefined;
  next: FrequencyBucket | undefined;
}

export interface EvictionOrder<E extends OrderLinks> {
  /** A new entry (not in the order). */
  add(entry: E): void;
  /** The entry was read or replaced. */
  touch(entry: E): void;
  remove(entry: E): void;
  /** The next entry to evict, or undefined when empty. */
  victim(): E | undefined;
  /** Every entry, next victim first. */
  entries(): IterableIterator<E>;
  clear(): void;
}

/** A doubly linked list threaded through the entries' `prev`/`next`. */
interface List {
  head: OrderLinks | undefined;
  tail: OrderLinks | undefined;
}

function append(list: List, entry: OrderLinks): void {
  entry.prev = list.tail;
  entry.next = undefined;
  if (list.tail === undefined) list.head = entry;
  else list.tail.next = entry;
  list.tail = entry;
}

function unlink(list: List, entry: OrderLinks): void {
  if (entry.prev === undefined) list.head = entry.next;
  else entry.prev.next = entry.next;
  if (entry.next === undefined) list.tail = entry.prev;
  else entry.next.prev = entry.prev;
  entry.prev = undefined;
  entry.next = undefined;
}

export class LruOrder<E extends OrderLinks> implements EvictionOrder<E> {
  readonly #list: List = { head: undefined, tail: undefined };

  add(entry: E): void {
    append(this.#list, entry);
  }

  touch(entry: E): void {
    if (this.#list.tail === entry) return;
    unlink(this.#list, entry);
    append(this.#list, entry);
  }

  remove(entry: E): void {
    unlink(this.#list, entry);
  }

  victim(): E | undefined {
    return this.#list.head as E | undefined;
  }

  *entries(): IterableIterator<E> {
    for (let entry = this.#list.head; entry !== undefined; entry = entry.next) yield entry as E;
  }

  clear(): void {
    this.#list.head = undefined;
    this.#list.tail = undefined;
  }
}

export class LfuOrder<E extends OrderLinks> implements EvictionOrder<E> {
  /** The lowest-frequency bucket; buckets are never empty. */
  #first: FrequencyBucket | undefined;

  add(entry: E): void {
    let bucket = this.#first;
    if (bucket === undefined || bucket.frequency !== 1) {
      bucket = newBucket(1, undefined, bucket);
      this.#first = bucket;
    }
    entry.bucket = bucket;
    append(bucket, entry);
  }

  touch(entry: E): void {
    const bucket = entry.bucket!;
    let next = bucket.next;
    if (next === undefined || next.frequency !== bucket.frequency + 1) {
      next = newBucket(bucket.frequency + 1, bucket, next);
    }
    this.#leave(bucket, entry);
    entry.bucket = next;
    append(next, entry);
  }

  remove(entry: E): void {
    this.#leave(entry.bucket!, entry);
    entry.bucket = undefined;
  }

  victim(): E | undefined {
    return this.#first?.head as E | undefined;
  }

  *entries(): IterableIterator<E> {
    for (let bucket = this.#first; bucket !== undefined; bucket = bucket.next) {
      for (let entry = bucket.head; entry !== undefined; entry = entry.next) yield entry as E;
    }
  }

  clear(): void {
    this.#first = undefined;
  }

  /** Unlinks `entry` from `bucket` and drops the bucket once empty. */
  #leave(bucket: FrequencyBucket, entry: OrderLinks): void {
    unlink(bucket, entry);
    if (bucket.head !== undefined) return;
    if (bucket.prev === undefined) this.#first = bucket.next;
    else bucket.prev.next = bucket.next;
    if (bucket.next !== undefined) bucket.next.prev = bucket.prev;
  }
}

/** A bucket linked between `prev` and `next`. */
function newBucket(
  frequency: number,
  prev: FrequencyBucket | undefined,
  next: FrequencyBucket | undefined,
): FrequencyBucket {
  const bucket: FrequencyBucket = { frequency, head: undefined, tail: undefined, prev, next };
  if (prev !== undefined) prev.next = bucket;
  if (next !== undefined) next.prev = bucket;
  return bucket;
}
