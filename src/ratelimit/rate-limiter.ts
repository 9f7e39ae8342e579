import { GroundworkError, isGroundworkError } from '../core/errors.js';
import { validateCost, validatePolicies } from './rate-limit-policy.js';
import type { RateLimitDecision, RateLimitPolicy, RateLimitStore } from './rate-limit-store.js';

export interface RateLimiterOptions {
  store: RateLimitStore;
  /** Every policy must allow a request, e.g. a 1 s burst limit and an hourly quota. */
  policies: readonly RateLimitPolicy[];
  /** When the store fails: `open` allows the request, `closed` refuses it; both mark it `degraded`. */
  failMode: 'open' | 'closed';
  /** Milliseconds since the epoch (fractions are floored). Default `Date.now`. */
  clock?: () => number;
  /** Called with each store failure (already a `RATELIMIT_ERR_STORE_UNAVAILABLE`), e.g. to log it. */
  onStoreError?: (error: GroundworkError) => void;
}

/** One policy's decision within a check. */
export interface PolicyDecision extends RateLimitDecision {
  readonly policy: RateLimitPolicy;
}

export type RateLimitResult =
  | {
      readonly allowed: boolean;
      readonly degraded: false;
      /**
       * The most restrictive policy: of the refusing ones, the one with the longest wait (its
       * `retryAfterMs` is when the request could pass); when all allow, the one with the fewest
       * units left (ties: the longest `resetMs`).
       */
      readonly decision: PolicyDecision;
      /** Every policy's decision, in the order of `policies`. */
      readonly decisions: readonly PolicyDecision[];
    }
  | {
      /** `failMode === 'open'`. */
      readonly allowed: boolean;
      /** The store failed; nothing is known about the limits. */
      readonly degraded: true;
      readonly error: GroundworkError;
      readonly decisions: readonly [];
    };

/** Running totals since the limiter was created, for metrics. */
export interface RateLimiterCounters {
  /** Checks answered by the store and allowed. */
  allowed: number;
  /** Checks answered by the store and refused. */
  denied: number;
  /** Store failures, each answered per `failMode`. */
  storeErrors: number;
  /** Of the failures: allowed anyway (fail-open). */
  degradedAllowed: number;
  /** Of the failures: refused (fail-closed). */
  degradedDenied: number;
}

/**
 * The portable rate limiter, written once around any `RateLimitStore`: validates the policies and
 * costs, applies every policy in one atomic store operation (`takeAll`: all charged or none), picks
 * the decision to report, and turns store failures into the configured fail-open or fail-closed
 * answer, counted.
 *
 * @example
 *   const limiter = new RateLimiter({
 *     store: new MemoryRateLimitStore(),
 *     policies: [
 *       { name: 'burst', algorithm: 'token-bucket', limit: 10, windowMs: 1_000 },
 *       { name: 'hourly', algorithm: 'sliding-window-counter', limit: 1000, windowMs: 3_600_000 },
 *     ],
 *     failMode: 'open',
 *   });
 *   const result = await limiter.check(`ip:${clientIp}`);
 *   if (!result.allowed) reply.code(429);
 */
export class RateLimiter {
  readonly store: RateLimitStore;
  readonly policies: readonly RateLimitPolicy[];
  readonly failMode: 'open' | 'closed';
  readonly #clock: () => number;
  readonly #onStoreError: ((error: GroundworkError) => void) | undefined;
  readonly #maxCost: number;
  readonly #counters: RateLimiterCounters = {
    allowed: 0,
    denied: 0,
    storeErrors: 0,
    degradedAllowed: 0,
    degradedDenied: 0,
  };

  constructor(options: RateLimiterOptions) {
    validatePolicies(options.policies);
    if (options.failMode !== 'open' && options.failMode !== 'closed') {
      throw new GroundworkError('RATELIMIT_ERR_INVALID_POLICY', {
        detail: `failMode must be "open" or "closed", got ${JSON.stringify(options.failMode)}.`,
      });
    }
    this.store = options.store;
    this.policies = [...options.policies];
    this.failMode = options.failMode;
    this.#clock = options.clock ?? Date.now;
    this.#onStoreError = options.onStoreError;
    this.#maxCost = Math.min(...this.policies.map((policy) => policy.limit));
  }

  /** A snapshot of the counters. */
  get counters(): Readonly<RateLimiterCounters> {
    return { ...this.#counters };
  }

  /**
   * Charges `cost` units (default 1) to `key` under every policy, or none if any refuses. Never
   * rejects for a store failure (that is a `degraded` result); rejects with
   * `RATELIMIT_ERR_INVALID_COST` for a bad cost.
   */
  async check(key: string, cost = 1): Promise<RateLimitResult> {
    if (!(Number.isSafeInteger(cost) && cost >= 0 && cost <= this.#maxCost))
      validateCost(cost, this.policies);
    const nowMs = Math.floor(this.#clock());
    const policies = this.policies;
    let decisions: PolicyDecision[];
    try {
      if (policies.length === 1) {
        // The common case, without the arrays of takeAll.
        decisions = [withPolicy(await this.store.take(key, cost, nowMs, policies[0]!), policies[0]!)];
      } else {
        const taken = await this.store.takeAll(key, cost, nowMs, policies);
        decisions = taken.map((decision, i) => withPolicy(decision, policies[i]!));
      }
    } catch (cause) {
      return this.#degraded(cause);
    }
    let allowed = true;
    for (const decision of decisions) allowed &&= decision.allowed;
    if (allowed) this.#counters.allowed++;
    else this.#counters.denied++;
    return { allowed, degraded: false, decision: mostRestrictive(decisions), decisions };
  }

  #degraded(cause: unknown): RateLimitResult {
    const error =
      isGroundworkError(cause) && cause.code === 'RATELIMIT_ERR_STORE_UNAVAILABLE'
        ? cause
        : new GroundworkError('RATELIMIT_ERR_STORE_UNAVAILABLE', { cause });
    this.#counters.storeErrors++;
    const allowed = this.failMode === 'open';
    if (allowed) this.#counters.degradedAllowed++;
    else this.#counters.degradedDenied++;
    try {
      this.#onStoreError?.(error);
    } catch {
      // A failing observer must not turn a degraded answer into an exception.
    }
    return { allowed, degraded: true, error, decisions: [] };
  }

  /** Closes the store. */
  close(): Promise<void> {
    return this.store.close();
  }
}

function withPolicy(d: RateLimitDecision, policy: RateLimitPolicy): PolicyDecision {
  return {
    allowed: d.allowed,
    limit: d.limit,
    remaining: d.remaining,
    resetMs: d.resetMs,
    retryAfterMs: d.retryAfterMs,
    policy,
  };
}

function mostRestrictive(decisions: readonly PolicyDecision[]): PolicyDecision {
  let best = decisions[0]!;
  for (let i = 1; i < decisions.length; i++) {
    const d = decisions[i]!;
    if (best.allowed !== d.allowed) {
      if (!d.allowed) best = d;
    } else if (!d.allowed) {
      if (d.retryAfterMs > best.retryAfterMs) best = d;
    } else if (d.remaining < best.remaining || (d.remaining === best.remaining && d.resetMs > best.resetMs)) {
      best = d;
    }
  }
  return best;
}
