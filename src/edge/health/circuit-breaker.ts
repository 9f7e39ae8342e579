/**
 * A circuit breaker for one upstream target (closed → open → half-open → closed), the classic
 * Nygard/Hystrix state machine with resilience4j's two trip rules and a cool-down that grows while
 * the target keeps failing.
 *
 * - **closed**: every request may go. It trips to open after `consecutiveFailures` failures in a
 *   row, or when, over the rolling `windowMs`, at least `minimumRequests` results were recorded and
 *   the failure fraction is ≥ `failureRateThreshold`.
 * - **open**: no request may go, for a cool-down of `openMs × openBackoffFactor^(trips − 1)`, capped
 *   at `maxOpenMs`, where `trips` counts the trips since the breaker last stayed closed for
 *   `tripMemoryMs` (so a target that fails again soon after recovering waits longer each time, and
 *   one that has been fine for a while starts again from `openMs`).
 * - **half-open** (entered lazily, at the first look after the cool-down): up to `halfOpenMaxTrials`
 *   trial requests may go; `halfOpenSuccesses` successful trials close the breaker, any failed trial
 *   reopens it (a new trip, a longer cool-down). A trial that ends with neither (`release()`, e.g. the
 *   client went away) gives its slot back.
 *
 * Every request holds a `CircuitPermit` and reports through it exactly once. Results of permits
 * issued before the last state change are ignored (a slow request from before the trip must not
 * close a half-open breaker, nor count twice toward a new trip). The proxy must settle every permit
 * (in a `finally`); an unsettled trial permit holds its half-open slot.
 *
 * The clock is injectable; the state is computed from it on each call, so transitions out of open
 * are reported (`onStateChange`) when the breaker is next consulted, not by a timer.
 */
import { checkNumber, checkThat } from './options.js';
import { SlidingWindowCounter } from './sliding-window.js';
import { isServerFailure, type UpstreamOutcome } from './upstream-outcome.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export type CircuitTransitionReason =
  | 'consecutive-failures'
  | 'failure-rate'
  | 'cool-down-elapsed'
  | 'trial-failed'
  | 'trials-succeeded'
  | 'reset';

export interface CircuitStateChange {
  readonly from: CircuitState;
  readonly to: CircuitState;
  readonly reason: CircuitTransitionReason;
  readonly atMs: number;
  /** Trips since the breaker last stayed closed for `tripMemoryMs` (drives the cool-down). */
  readonly trips: number;
  /** Set when `to` is `open`: when the cool-down ends. */
  readonly openUntilMs?: number;
}

export interface CircuitBreakerOptions {
  /** Failures in a row that trip the breaker. Default 5; 0 disables this rule. */
  consecutiveFailures?: number;
  /** Failure fraction (0–1] over the window that trips the breaker. Default 0.5; 0 disables this rule. */
  failureRateThreshold?: number;
  /** Results needed in the window before the rate rule applies. Default 20. */
  minimumRequests?: number;
  /** Rolling window of the rate rule, in ms. Default 10 000. */
  windowMs?: number;
  /** Buckets the window is cut into (its resolution). Default 10. */
  windowBuckets?: number;
  /** First cool-down in ms. Default 5 000. */
  openMs?: number;
  /** Longest cool-down in ms. Default 60 000. */
  maxOpenMs?: number;
  /** Each trip within the memory multiplies the cool-down by this (≥ 1). Default 2. */
  openBackoffFactor?: number;
  /** Staying closed this long (ms) forgets earlier trips. Default `maxOpenMs`. */
  tripMemoryMs?: number;
  /** Trial requests let through per half-open period. Default 1. */
  halfOpenMaxTrials?: number;
  /** Successful trials that close the breaker (≤ `halfOpenMaxTrials`). Default 1. */
  halfOpenSuccesses?: number;
  /** Milliseconds; default `Date.now`. */
  clock?: () => number;
  /** Every state change, for metrics and logs. Must not throw. */
  onStateChange?: (change: CircuitStateChange) => void;
}

export interface CircuitBreakerCounters {
  /** Permits settled as success / failure (including ignored stale ones). */
  successes: number;
  failures: number;
  /** `tryAcquire` refusals (open, or half-open with no trial slot left). */
  rejected: number;
  /** Transitions to open since creation. */
  opened: number;
  /** Results ignored because their permit predates the last state change. */
  stale: number;
}

const SUCCESS = 0;
const FAILURE = 1;

/**
 * The right to send one request while the breaker allowed it. Settle it once: `success()`,
 * `failure()`, `report(outcome)` (failure when `isServerFailure(outcome)`), or `release()` when the
 * request ended without telling anything about the target. Later calls are ignored.
 */
export class CircuitPermit {
  #settled = false;

  /** @internal */
  constructor(
    readonly breaker: CircuitBreaker,
    /** @internal */ readonly epoch: number,
    /** Whether this is a half-open trial. */
    readonly trial: boolean,
  ) {}

  success(): void {
    this.#settle(SUCCESS);
  }

  failure(): void {
    this.#settle(FAILURE);
  }

  release(): void {
    this.#settle(-1);
  }

  report(outcome: UpstreamOutcome): void {
    this.#settle(isServerFailure(outcome) ? FAILURE : SUCCESS);
  }

  #settle(result: number): void {
    if (this.#settled) return;
    this.#settled = true;
    this.breaker.settle(this, result);
  }
}

/**
 * @example
 *   const breaker = new CircuitBreaker({ consecutiveFailures: 5, onStateChange: (c) => log.warn(c) });
 *   const permit = breaker.tryAcquire();
 *   if (!permit) return pickAnotherTarget();
 *   try { const res = await send(); permit.report(responseOutcome(res.statusCode)); }
 *   catch (error) { permit.failure(); throw error; }
 */
export class CircuitBreaker {
  readonly #consecutiveLimit: number;
  readonly #rateThreshold: number;
  readonly #minimumRequests: number;
  readonly #openMs: number;
  readonly #maxOpenMs: number;
  readonly #backoff: number;
  readonly #tripMemoryMs: number;
  readonly #maxTrials: number;
  readonly #trialSuccessesNeeded: number;
  readonly #clock: () => number;
  readonly #onStateChange: ((change: CircuitStateChange) => void) | undefined;
  readonly #window: SlidingWindowCounter;

  #state: CircuitState = 'closed';
  /** Bumped on every transition; permits from an older epoch are stale. */
  #epoch = 0;
  #consecutive = 0;
  #trips = 0;
  #closedSinceMs: number;
  #openUntilMs = 0;
  #trialsStarted = 0;
  #trialSuccesses = 0;
  readonly #counters: CircuitBreakerCounters = {
    successes: 0,
    failures: 0,
    rejected: 0,
    opened: 0,
    stale: 0,
  };

  constructor(options: CircuitBreakerOptions = {}) {
    const owner = 'CircuitBreaker';
    this.#consecutiveLimit = checkNumber(owner, 'consecutiveFailures', options.consecutiveFailures ?? 5, {
      min: 0,
      integer: true,
    });
    this.#rateThreshold = checkNumber(owner, 'failureRateThreshold', options.failureRateThreshold ?? 0.5, {
      min: 0,
      max: 1,
    });
    this.#minimumRequests = checkNumber(owner, 'minimumRequests', options.minimumRequests ?? 20, {
      min: 1,
      integer: true,
    });
    const windowMs = checkNumber(owner, 'windowMs', options.windowMs ?? 10_000, { min: 1 });
    const buckets = checkNumber(owner, 'windowBuckets', options.windowBuckets ?? 10, {
      min: 1,
      max: 1_000,
      integer: true,
    });
    this.#openMs = checkNumber(owner, 'openMs', options.openMs ?? 5_000, { min: 0 });
    this.#maxOpenMs = checkNumber(owner, 'maxOpenMs', options.maxOpenMs ?? Math.max(60_000, this.#openMs), {
      min: this.#openMs,
    });
    this.#backoff = checkNumber(owner, 'openBackoffFactor', options.openBackoffFactor ?? 2, { min: 1 });
    this.#tripMemoryMs = checkNumber(owner, 'tripMemoryMs', options.tripMemoryMs ?? this.#maxOpenMs, {
      min: 0,
    });
    this.#maxTrials = checkNumber(owner, 'halfOpenMaxTrials', options.halfOpenMaxTrials ?? 1, {
      min: 1,
      integer: true,
    });
    this.#trialSuccessesNeeded = checkNumber(owner, 'halfOpenSuccesses', options.halfOpenSuccesses ?? 1, {
      min: 1,
      max: this.#maxTrials,
      integer: true,
    });
    checkThat(
      this.#consecutiveLimit > 0 || this.#rateThreshold > 0,
      owner,
      'consecutiveFailures and failureRateThreshold are both 0: the breaker could never trip.',
    );
    this.#clock = options.clock ?? Date.now;
    this.#onStateChange = options.onStateChange;
    this.#window = new SlidingWindowCounter(windowMs, buckets, 2);
    this.#closedSinceMs = this.#clock();
  }

  /** The state now (moving open → half-open when the cool-down is over). */
  get state(): CircuitState {
    this.#refresh(this.#clock());
    return this.#state;
  }

  /** Whether `tryAcquire` would give a permit now; acquires nothing. */
  get available(): boolean {
    this.#refresh(this.#clock());
    if (this.#state === 'closed') return true;
    return this.#state === 'half-open' && this.#trialsStarted < this.#maxTrials;
  }

  /** While open: when the cool-down ends. Otherwise undefined. */
  get openUntilMs(): number | undefined {
    this.#refresh(this.#clock());
    return this.#state === 'open' ? this.#openUntilMs : undefined;
  }

  /** Trips remembered for the cool-down (see `tripMemoryMs`). */
  get trips(): number {
    return this.#trips;
  }

  get counters(): Readonly<CircuitBreakerCounters> {
    return { ...this.#counters };
  }

  /** A permit to send one request, or undefined when the breaker refuses (open, or no trial slot). */
  tryAcquire(): CircuitPermit | undefined {
    this.#refresh(this.#clock());
    if (this.#state === 'closed') return new CircuitPermit(this, this.#epoch, false);
    if (this.#state === 'half-open' && this.#trialsStarted < this.#maxTrials) {
      this.#trialsStarted++;
      return new CircuitPermit(this, this.#epoch, true);
    }
    this.#counters.rejected++;
    return undefined;
  }

  /** Back to closed with no memory of earlier trips (e.g. the target was replaced). */
  reset(): void {
    this.#trips = 0;
    if (this.#state !== 'closed') this.#close(this.#clock(), 'reset');
    else this.#clearCounts();
  }

  /** @internal Called by `CircuitPermit`; result 0 success, 1 failure, −1 neither. */
  settle(permit: CircuitPermit, result: number): void {
    if (result === SUCCESS) this.#counters.successes++;
    else if (result === FAILURE) this.#counters.failures++;
    const now = this.#clock();
    this.#refresh(now);
    if (permit.epoch !== this.#epoch) {
      if (result !== -1) this.#counters.stale++;
      return;
    }
    if (this.#state === 'half-open') {
      if (result === -1) this.#trialsStarted--;
      else if (result === FAILURE) this.#open(now, 'trial-failed');
      else if (++this.#trialSuccesses >= this.#trialSuccessesNeeded) this.#close(now, 'trials-succeeded');
      return;
    }
    // closed (an open breaker issues no permits, and opening bumps the epoch)
    if (result === -1) return;
    this.#window.add(now, result);
    if (result === SUCCESS) {
      this.#consecutive = 0;
      return;
    }
    this.#consecutive++;
    if (this.#consecutiveLimit > 0 && this.#consecutive >= this.#consecutiveLimit) {
      this.#open(now, 'consecutive-failures');
    } else if (this.#rateThreshold > 0) {
      const failures = this.#window.total(now, FAILURE);
      const total = failures + this.#window.total(now, SUCCESS);
      if (total >= this.#minimumRequests && failures >= this.#rateThreshold * total) {
        this.#open(now, 'failure-rate');
      }
    }
  }

  #refresh(now: number): void {
    if (this.#state === 'open' && now >= this.#openUntilMs) {
      this.#transition('half-open', 'cool-down-elapsed', this.#openUntilMs);
      this.#trialsStarted = 0;
      this.#trialSuccesses = 0;
    }
  }

  #open(now: number, reason: CircuitTransitionReason): void {
    if (this.#state === 'closed' && now - this.#closedSinceMs >= this.#tripMemoryMs) this.#trips = 0;
    this.#trips++;
    const coolDown = Math.min(this.#maxOpenMs, this.#openMs * this.#backoff ** (this.#trips - 1));
    this.#openUntilMs = now + coolDown;
    this.#counters.opened++;
    this.#clearCounts();
    this.#transition('open', reason, now);
  }

  #close(now: number, reason: CircuitTransitionReason): void {
    this.#closedSinceMs = now;
    this.#clearCounts();
    this.#transition('closed', reason, now);
  }

  #clearCounts(): void {
    this.#consecutive = 0;
    this.#window.clear();
  }

  #transition(to: CircuitState, reason: CircuitTransitionReason, atMs: number): void {
    const from = this.#state;
    this.#state = to;
    this.#epoch++;
    if (this.#onStateChange === undefined) return;
    const change: CircuitStateChange =
      to === 'open'
        ? { from, to, reason, atMs, trips: this.#trips, openUntilMs: this.#openUntilMs }
        : { from, to, reason, atMs, trips: this.#trips };
    this.#onStateChange(change);
  }
}
