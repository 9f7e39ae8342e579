/**
 * Time for the edge's health and failover mechanisms: a clock plus one-shot timers, behind a small
 * interface so every time-driven decision (probe intervals, probe timeouts, drain timeouts, DNS
 * refresh) can run on a manual clock in tests and simulations, and on the real one in production.
 *
 * `systemScheduler` uses `Date.now` and `unref`ed Node timers: a background loop never keeps the
 * process alive on its own (the server's listening socket does that). `ManualScheduler` only moves
 * when told to, and lets promise continuations settle between timers so async loops (probe → record
 * → schedule the next probe) run exactly as they would in real time.
 */

/** A clock and one-shot timers. `setTimeout` returns a function that cancels the timer (idempotent). */
export interface Scheduler {
  /** Milliseconds on a clock that only this scheduler's timers are measured against. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): () => void;
}

/** Real time: `Date.now` and `unref`ed timers. */
export const systemScheduler: Scheduler = {
  now: Date.now,
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

interface ManualTimer {
  readonly dueMs: number;
  readonly seq: number;
  readonly callback: () => void;
}

/** Lets queued promise continuations run (several turns, so chains of `await` settle too). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A scheduler whose clock moves only through `advance`. Timers fire in due order (ties in the order
 * they were set); between two timers, pending promise continuations settle, so a callback that
 * starts async work and sets the next timer when it finishes behaves like it would in real time.
 * Real I/O (a socket) does not finish "between" manual timers: wait for it with a condition.
 *
 * @example
 *   const time = new ManualScheduler(1_000);
 *   const checker = new ActiveHealthChecker({ probe, scheduler: time });
 *   await time.advance(5_000); // runs every probe due in the next 5 s
 */
export class ManualScheduler implements Scheduler {
  #nowMs: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): () => void {
    const timer: ManualTimer = {
      dueMs: this.#nowMs + Math.max(0, delayMs),
      seq: this.#seq++,
      callback,
    };
    this.#timers.push(timer);
    return () => {
      const index = this.#timers.indexOf(timer);
      if (index !== -1) this.#timers.splice(index, 1);
    };
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** When the next timer is due, or undefined when none is set. */
  get nextDueMs(): number | undefined {
    return this.#next()?.dueMs;
  }

  /**
   * Moves the clock forward by `ms`, firing every timer that falls due on the way (also timers set
   * by those callbacks), each at its own due time, letting promises settle after each one.
   */
  async advance(ms: number): Promise<void> {
    const targetMs = this.#nowMs + ms;
    await settle();
    for (;;) {
      const next = this.#next();
      if (next === undefined || next.dueMs > targetMs) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#nowMs = Math.max(this.#nowMs, next.dueMs);
      next.callback();
      await settle();
    }
    this.#nowMs = targetMs;
  }

  /** Sets the clock without firing timers (for pure, clock-only logic). Never moves backwards. */
  set(nowMs: number): void {
    this.#nowMs = Math.max(this.#nowMs, nowMs);
  }

  #next(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (
        best === undefined ||
        timer.dueMs < best.dueMs ||
        (timer.dueMs === best.dueMs && timer.seq < best.seq)
      )
        best = timer;
    }
    return best;
  }
}
