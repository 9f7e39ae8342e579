/**
 * Timeouts that all have the same duration (a route's `timeouts.tryMs`), kept in one list with one
 * Node timer, instead of a `setTimeout` per try.
 *
 * Every entry of a queue lasts the same time, so entries added later are due later: the list is in
 * due order by construction, adding is an append and cancelling an unlink, both O(1). The one timer
 * is armed for the head's due time; when it fires, every entry due by then expires (its callback
 * runs) and the timer is armed again for the new head. Cancelling the head leaves the timer as it is:
 * it fires for nothing at most once and re-arms for whatever is then first. Entries expire no earlier
 * than `durationMs` after they were added (by `Date.now()`), as with `setTimeout`.
 *
 * Why: a proxied request that gets its answer in time (nearly all) would otherwise create, schedule
 * and cancel a `Timeout` object and a closure, for a timer that never fires.
 */

/** One pending timeout; `expire` runs once if it is not cancelled before its time. */
export abstract class QueuedTimeout {
  /** @internal */ dueMs = 0;
  /** @internal */ prev: QueuedTimeout | undefined;
  /** @internal */ next: QueuedTimeout | undefined;
  /** @internal */ queue: TimeoutQueue | undefined;

  abstract expire(): void;

  /** Stops the timeout if it is pending (a no-op otherwise). */
  cancel(): void {
    this.queue?.remove(this);
  }
}

export class TimeoutQueue {
  readonly durationMs: number;
  #head: QueuedTimeout | undefined;
  #tail: QueuedTimeout | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(durationMs: number) {
    this.durationMs = durationMs;
  }

  /** Starts `entry`'s timeout (`nowMs`: `Date.now()`). It must not be pending already. */
  add(entry: QueuedTimeout, nowMs: number): void {
    entry.dueMs = nowMs + this.durationMs;
    entry.queue = this;
    entry.next = undefined;
    entry.prev = this.#tail;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.next = entry;
    this.#tail = entry;
    // The head is due first (it may be older than `entry` when this runs from an expiry callback).
    if (this.#timer === undefined) this.#arm(this.#head!.dueMs, nowMs);
  }

  /** @internal Unlinks a pending entry (through `QueuedTimeout.cancel`). */
  remove(entry: QueuedTimeout): void {
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    entry.prev = undefined;
    entry.next = undefined;
    entry.queue = undefined;
    if (this.#head === undefined && this.#timer !== undefined) {
      // Nothing left: no timer keeps the process up for nothing.
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(dueMs: number, nowMs: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, dueMs - nowMs));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = Date.now();
    for (let entry = this.#head; entry !== undefined && entry.dueMs <= now; entry = this.#head) {
      this.remove(entry);
      entry.expire();
    }
    const head = this.#head;
    if (head !== undefined && this.#timer === undefined) this.#arm(head.dueMs, now);
  }
}
