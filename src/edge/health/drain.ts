/**
 * Draining one upstream target: counts the requests in flight to it and, once it is being removed,
 * refuses new ones and tells when it may be closed — when the last in-flight request ends, or when
 * the drain timeout passes, whichever comes first. The proxy then closes the target's connection
 * pool gracefully (`idle`) or destroys it (`timeout`: the stragglers are cut off).
 *
 * A drain can be called off (`reactivate`: the target came back, e.g. its DNS record reappeared
 * while it was draining); the drain promise then settles with `reactivated` and nothing should be
 * closed.
 */
import { checkNumber } from './options.js';
import { type Scheduler, systemScheduler } from './scheduler.js';

export type DrainState = 'active' | 'draining' | 'drained';

export interface DrainResult {
  /** `idle`: nothing in flight any more; `timeout`: the drain timeout passed first; `reactivated`: called off. */
  readonly reason: 'idle' | 'timeout' | 'reactivated';
  /** Requests still in flight when the drain ended (0 for `idle`). */
  readonly inFlight: number;
  /** How long the drain took, in ms. */
  readonly durationMs: number;
}

/**
 * @example
 *   const target = new DrainableTarget();
 *   const release = target.acquire();        // undefined once draining: pick another target
 *   try { await proxyTo(target) } finally { release?.() }
 *   // when removed from the group:
 *   const { reason } = await target.drain(30_000);
 *   reason === 'idle' ? pool.close() : reason === 'timeout' ? pool.destroy() : undefined;
 */
export class DrainableTarget {
  readonly #scheduler: Scheduler;
  #state: DrainState = 'active';
  #inFlight = 0;
  #drainStartedMs = 0;
  #cancelTimer: (() => void) | undefined;
  #settle: ((result: DrainResult) => void) | undefined;
  #drained: Promise<DrainResult> | undefined;
  #result: DrainResult | undefined;

  constructor(options: { scheduler?: Scheduler } = {}) {
    this.#scheduler = options.scheduler ?? systemScheduler;
  }

  get state(): DrainState {
    return this.#state;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Starts one request: returns the function that ends it (call it once, in a `finally`; later
   * calls do nothing), or undefined when the target is draining or drained.
   */
  acquire(): (() => void) | undefined {
    if (this.#state !== 'active') return undefined;
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      if (this.#inFlight === 0 && this.#state === 'draining') this.#finish('idle');
    };
  }

  /**
   * Stops new requests at once and resolves when the target may be closed: at once if nothing is
   * in flight, else when the last request ends or after `timeoutMs` (0: wait for ever). Calling it
   * again while draining returns the same promise; once drained, the same result.
   */
  drain(timeoutMs: number): Promise<DrainResult> {
    checkNumber('DrainableTarget', 'timeoutMs', timeoutMs, { min: 0 });
    if (this.#drained !== undefined) return this.#drained;
    if (this.#state === 'drained') return Promise.resolve(this.#result!);
    this.#state = 'draining';
    this.#drainStartedMs = this.#scheduler.now();
    const drained = new Promise<DrainResult>((resolve) => {
      this.#settle = resolve;
    });
    this.#drained = drained;
    if (this.#inFlight === 0) this.#finish('idle');
    else if (timeoutMs > 0)
      this.#cancelTimer = this.#scheduler.setTimeout(() => this.#finish('timeout'), timeoutMs);
    return drained;
  }

  /** Calls off a drain in progress: the target takes requests again. Returns whether it was draining. */
  reactivate(): boolean {
    if (this.#state !== 'draining') return false;
    this.#finish('reactivated');
    return true;
  }

  #finish(reason: DrainResult['reason']): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#state = reason === 'reactivated' ? 'active' : 'drained';
    const settle = this.#settle;
    this.#settle = undefined;
    this.#drained = undefined;
    this.#result = {
      reason,
      inFlight: this.#inFlight,
      durationMs: this.#scheduler.now() - this.#drainStartedMs,
    };
    settle?.(this.#result);
  }
}
