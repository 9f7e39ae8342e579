import type { RateLimitAlgorithmName, RateLimitDecision, RateLimitPolicy } from '../rate-limit-store.js';

/** The result of deciding one take against a state. */
export interface AlgorithmStep<S> {
  readonly decision: RateLimitDecision;
  /**
   * Present when the take is allowed and charges something (cost > 0): applies it and returns the
   * state to store. Deciding and applying are separate so a store can decide several policies and
   * apply all or none (`RateLimitStore.takeAll`).
   */
  readonly commit?: () => S;
}

/**
 * One algorithm's decision logic over a small state record, without I/O: the memory driver calls
 * it directly and the Redis driver's Lua repeats it operation by operation (the conformance suite
 * holds them to the same decisions). `undefined` state means "no state": a fresh key.
 *
 * Arithmetic is in integers below 2^53 (see `MAX_LIMIT_TIMES_WINDOW_MS`), with only +, -, ×, /,
 * floor and ceil, so IEEE doubles in JavaScript and in Lua give identical results.
 */
export interface RateLimitAlgorithm<S> {
  readonly name: RateLimitAlgorithmName;
  /** Decides a take of `cost` at `nowMs`. Never changes what `state` means (it may compact it). */
  take(state: S | undefined, cost: number, nowMs: number, policy: RateLimitPolicy): AlgorithmStep<S>;
  /**
   * From this time on (same clock as `nowMs`), `state` decides exactly like no state at all, so a
   * store may drop it: the basis of bounded memory (memory sweep, Redis PEXPIRE).
   */
  expiresAtMs(state: S, policy: RateLimitPolicy): number;
}

export function allowed(limit: number, remaining: number, resetMs: number): RateLimitDecision {
  return { allowed: true, limit, remaining, resetMs, retryAfterMs: 0 };
}

export function denied(
  limit: number,
  remaining: number,
  resetMs: number,
  retryAfterMs: number,
): RateLimitDecision {
  return { allowed: false, limit, remaining, resetMs, retryAfterMs };
}

/** An allowed take's step: with `commit` only when it charges something (cost > 0). */
export function charge<S>(decision: RateLimitDecision, cost: number, commit: () => S): AlgorithmStep<S> {
  return cost > 0 ? { decision, commit } : { decision };
}
