/**
 * Passive health checking of one upstream group (Envoy's outlier detection, consecutive-error
 * variant): the proxy reports how each try ended, and a target that fails too often in a row is
 * ejected — taken out of the balancer's choice — for a while, then let back in.
 *
 * - Two counters per target. `consecutive5xx` counts 5xx responses **and** local-origin failures
 *   (connect failure, timeout, reset: Envoy's default mapping of those to 5xx); any response below
 *   500 resets it. `consecutiveLocalOriginFailures` counts only local-origin failures; any response
 *   (even a 5xx: the connection works) resets it. Either reaching its threshold ejects the target.
 * - Ejection lasts `baseEjectionMs × multiplier`, capped at `maxEjectionMs`. The multiplier grows by
 *   one per ejection and shrinks by one per `decayIntervalMs` spent back in service, so a flapping
 *   target stays out longer each time and a recovered one is forgiven (Envoy: ejection time × number
 *   of ejections, decremented each interval while healthy).
 * - **Ejection cap.** After an ejection at most `min(n − 1, max(1, ⌊n × maxEjectionPercent / 100⌋))`
 *   of the group's `n` targets are ejected. So one target may always be ejected even when the
 *   percentage rounds to zero (as Envoy), and **at least one target always stays in**, even when all
 *   are failing: ejecting the last one would turn every request into a 503 at the edge and hide the
 *   moment it recovers, while leaving it in lets requests (and retries, and the circuit breaker)
 *   find out. A group of one target is never ejected. A target over its threshold when the cap is
 *   reached is not ejected (an `ejection-overflow` event); its counts stay, so its next failure
 *   tries again, e.g. once another target is back.
 * - Un-ejection happens when its time has passed, observed on the next call (every pick asks
 *   `isEjected`, so no timer is needed), or at once through `uneject` (e.g. an active health check
 *   passed). Results reported for an ejected target (requests already in flight) are ignored.
 *
 * The clock is injectable; events (`onEvent`) and `counters` are what the proxy turns into metrics.
 */
import { checkNumber } from './options.js';
import type { UpstreamOutcome } from './upstream-outcome.js';

export type EjectionReason = 'consecutive-5xx' | 'consecutive-local-origin-failures';

export type OutlierEvent =
  | {
      readonly type: 'ejected';
      readonly target: string;
      readonly reason: EjectionReason;
      readonly atMs: number;
      readonly durationMs: number;
      /** The multiplier this ejection used (1 for a first ejection). */
      readonly multiplier: number;
    }
  | { readonly type: 'unejected'; readonly target: string; readonly atMs: number }
  | {
      readonly type: 'ejection-overflow';
      readonly target: string;
      readonly reason: EjectionReason;
      readonly atMs: number;
    };

export interface OutlierDetectorOptions {
  /** 5xx responses or local-origin failures in a row that eject a target. Default 5; 0 disables. */
  consecutive5xx?: number;
  /** Connect failures, timeouts or resets in a row that eject a target. Default 3; 0 disables. */
  consecutiveLocalOriginFailures?: number;
  /** First ejection's length in ms. Default 30 000. */
  baseEjectionMs?: number;
  /** Longest ejection in ms. Default max(300 000, `baseEjectionMs`). */
  maxEjectionMs?: number;
  /** Percentage (0–100) of the group that may be ejected at once (see the cap above). Default 10; 0 never ejects. */
  maxEjectionPercent?: number;
  /** Time in service (ms) that takes one off the ejection multiplier. Default 10 000. */
  decayIntervalMs?: number;
  /** Milliseconds; default `Date.now`. */
  clock?: () => number;
  /** Ejections, un-ejections and overflows, for metrics and logs. Must not throw. */
  onEvent?: (event: OutlierEvent) => void;
}

export interface OutlierTargetStatus {
  readonly ejected: boolean;
  /** While ejected: when it ends. */
  readonly ejectedUntilMs: number | undefined;
  readonly consecutive5xx: number;
  readonly consecutiveLocalOriginFailures: number;
  /** The multiplier of the last ejection, before decay. */
  readonly multiplier: number;
  readonly ejections: number;
}

export interface OutlierDetectorCounters {
  ejections: number;
  unejections: number;
  overflows: number;
}

interface TargetState {
  consecutive5xx: number;
  consecutiveLocal: number;
  /** 0 when in service. */
  ejectedUntilMs: number;
  multiplier: number;
  /** When it last came back into service (for the multiplier's decay). */
  inServiceSinceMs: number;
  ejections: number;
}

/**
 * @example
 *   const outliers = new OutlierDetector({ maxEjectionPercent: 50, onEvent: (e) => metrics.record(e) });
 *   outliers.setTargets(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
 *   const candidates = targets.filter((t) => !outliers.isEjected(t.id));
 *   // after each try:
 *   outliers.record(target.id, responseOutcome(res.statusCode)); // or CONNECT_FAILURE, TIMEOUT, RESET
 */
export class OutlierDetector {
  readonly #limit5xx: number;
  readonly #limitLocal: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxPercent: number;
  readonly #decayMs: number;
  readonly #maxMultiplier: number;
  readonly #clock: () => number;
  readonly #onEvent: ((event: OutlierEvent) => void) | undefined;
  readonly #targets = new Map<string, TargetState>();
  #ejectedCount = 0;
  /** The earliest `ejectedUntilMs` among ejected targets (Infinity when none): sweeps are O(1) until then. */
  #nextExpiryMs = Number.POSITIVE_INFINITY;
  readonly #counters: OutlierDetectorCounters = { ejections: 0, unejections: 0, overflows: 0 };

  constructor(options: OutlierDetectorOptions = {}) {
    const owner = 'OutlierDetector';
    const count = { min: 0, integer: true } as const;
    this.#limit5xx = checkNumber(owner, 'consecutive5xx', options.consecutive5xx ?? 5, count);
    this.#limitLocal = checkNumber(
      owner,
      'consecutiveLocalOriginFailures',
      options.consecutiveLocalOriginFailures ?? 3,
      count,
    );
    this.#baseMs = checkNumber(owner, 'baseEjectionMs', options.baseEjectionMs ?? 30_000, { min: 1 });
    this.#maxMs = checkNumber(
      owner,
      'maxEjectionMs',
      options.maxEjectionMs ?? Math.max(300_000, this.#baseMs),
      { min: this.#baseMs },
    );
    this.#maxPercent = checkNumber(owner, 'maxEjectionPercent', options.maxEjectionPercent ?? 10, {
      min: 0,
      max: 100,
    });
    this.#decayMs = checkNumber(owner, 'decayIntervalMs', options.decayIntervalMs ?? 10_000, { min: 1 });
    this.#maxMultiplier = Math.ceil(this.#maxMs / this.#baseMs);
    this.#clock = options.clock ?? Date.now;
    this.#onEvent = options.onEvent;
  }

  /** Sets the group's members. Known targets keep their state; removed ones are forgotten. */
  setTargets(ids: Iterable<string>): void {
    const now = this.#clock();
    const next = new Set(ids);
    for (const [id, state] of this.#targets) {
      if (next.has(id)) continue;
      if (state.ejectedUntilMs > 0) this.#ejectedCount--;
      this.#targets.delete(id);
    }
    for (const id of next) {
      if (!this.#targets.has(id)) {
        this.#targets.set(id, {
          consecutive5xx: 0,
          consecutiveLocal: 0,
          ejectedUntilMs: 0,
          multiplier: 0,
          inServiceSinceMs: now,
          ejections: 0,
        });
      }
    }
    this.#recomputeNextExpiry();
  }

  /** The members, in the order they were added. */
  get targets(): string[] {
    return [...this.#targets.keys()];
  }

  /** Reports one try's outcome. Unknown or currently ejected targets are ignored. */
  record(id: string, outcome: UpstreamOutcome): void {
    const now = this.#clock();
    this.#sweep(now);
    const state = this.#targets.get(id);
    if (state === undefined || state.ejectedUntilMs > 0) return;
    if (outcome.kind === 'response') {
      state.consecutiveLocal = 0;
      if (outcome.status < 500) {
        state.consecutive5xx = 0;
        return;
      }
      state.consecutive5xx++;
    } else {
      state.consecutiveLocal++;
      state.consecutive5xx++;
    }
    if (this.#limitLocal > 0 && state.consecutiveLocal >= this.#limitLocal) {
      this.#eject(id, state, 'consecutive-local-origin-failures', now);
    } else if (this.#limit5xx > 0 && state.consecutive5xx >= this.#limit5xx) {
      this.#eject(id, state, 'consecutive-5xx', now);
    }
  }

  isEjected(id: string): boolean {
    this.#sweep(this.#clock());
    return (this.#targets.get(id)?.ejectedUntilMs ?? 0) > 0;
  }

  /** The ejected targets now. */
  ejected(): string[] {
    this.#sweep(this.#clock());
    const out: string[] = [];
    for (const [id, state] of this.#targets) if (state.ejectedUntilMs > 0) out.push(id);
    return out;
  }

  /** Brings an ejected target back now (e.g. an active health check passed). Returns whether it was ejected. */
  uneject(id: string): boolean {
    const now = this.#clock();
    this.#sweep(now);
    const state = this.#targets.get(id);
    if (state === undefined || state.ejectedUntilMs === 0) return false;
    this.#bringBack(id, state, now);
    this.#recomputeNextExpiry();
    return true;
  }

  status(id: string): OutlierTargetStatus | undefined {
    this.#sweep(this.#clock());
    const state = this.#targets.get(id);
    if (state === undefined) return undefined;
    return {
      ejected: state.ejectedUntilMs > 0,
      ejectedUntilMs: state.ejectedUntilMs > 0 ? state.ejectedUntilMs : undefined,
      consecutive5xx: state.consecutive5xx,
      consecutiveLocalOriginFailures: state.consecutiveLocal,
      multiplier: state.multiplier,
      ejections: state.ejections,
    };
  }

  get counters(): Readonly<OutlierDetectorCounters> {
    return { ...this.#counters };
  }

  /** How many targets may be ejected at once in a group of `n` (see the cap in the file header). */
  maxEjected(n: number): number {
    if (n <= 1) return 0;
    if (this.#maxPercent === 0) return 0;
    return Math.min(n - 1, Math.max(1, Math.floor((n * this.#maxPercent) / 100)));
  }

  #eject(id: string, state: TargetState, reason: EjectionReason, now: number): void {
    if (this.#ejectedCount + 1 > this.maxEjected(this.#targets.size)) {
      this.#counters.overflows++;
      this.#onEvent?.({ type: 'ejection-overflow', target: id, reason, atMs: now });
      return;
    }
    const decayed = Math.floor((now - state.inServiceSinceMs) / this.#decayMs);
    state.multiplier = Math.min(this.#maxMultiplier, Math.max(0, state.multiplier - decayed) + 1);
    const durationMs = Math.min(this.#maxMs, this.#baseMs * state.multiplier);
    state.ejectedUntilMs = now + durationMs;
    state.ejections++;
    this.#ejectedCount++;
    this.#counters.ejections++;
    this.#nextExpiryMs = Math.min(this.#nextExpiryMs, state.ejectedUntilMs);
    this.#onEvent?.({
      type: 'ejected',
      target: id,
      reason,
      atMs: now,
      durationMs,
      multiplier: state.multiplier,
    });
  }

  #bringBack(id: string, state: TargetState, atMs: number): void {
    state.ejectedUntilMs = 0;
    state.consecutive5xx = 0;
    state.consecutiveLocal = 0;
    state.inServiceSinceMs = atMs;
    this.#ejectedCount--;
    this.#counters.unejections++;
    this.#onEvent?.({ type: 'unejected', target: id, atMs });
  }

  #sweep(now: number): void {
    if (now < this.#nextExpiryMs) return;
    for (const [id, state] of this.#targets) {
      // Reported at the time the ejection ended, so the decay counts from then.
      if (state.ejectedUntilMs > 0 && state.ejectedUntilMs <= now)
        this.#bringBack(id, state, state.ejectedUntilMs);
    }
    this.#recomputeNextExpiry();
  }

  #recomputeNextExpiry(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const state of this.#targets.values()) {
      if (state.ejectedUntilMs > 0 && state.ejectedUntilMs < next) next = state.ejectedUntilMs;
    }
    this.#nextExpiryMs = next;
  }
}
