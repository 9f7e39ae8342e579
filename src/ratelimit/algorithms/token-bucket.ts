import { allowed, charge, denied, type RateLimitAlgorithm } from './algorithm.js';

export interface TokenBucketState {
  /**
   * Tokens in the bucket, in ticks: one token is `windowMs` ticks and the bucket gains `limit` ticks
   * per ms, so continuous refill at `limit / windowMs` tokens per ms stays in integers.
   */
  readonly level: number;
  /** When `level` was computed. */
  readonly lastMs: number;
}

/**
 * Token bucket: capacity `limit` tokens, refilled continuously at `limit` tokens per `windowMs`; a
 * take of `cost` needs `cost` whole tokens. A fresh key has a full bucket.
 *
 * - `remaining` = whole tokens in the bucket (after the take when allowed).
 * - `resetMs` = time until the bucket is full again (rounded up to the ms; 0 when full).
 * - denied: `retryAfterMs` = time until the bucket holds `cost` tokens (rounded up to the ms).
 */
export const tokenBucket: RateLimitAlgorithm<TokenBucketState> = {
  name: 'token-bucket',
  take(state, cost, nowMs, { limit, windowMs }) {
    const capacity = limit * windowMs;
    let level = capacity;
    let t = nowMs;
    if (state !== undefined) {
      t = Math.max(nowMs, state.lastMs);
      const elapsed = t - state.lastMs;
      // After a whole window any level is full; checking first keeps elapsed × limit below 2^53.
      level =
        elapsed >= windowMs ? capacity : state.level + Math.min(elapsed * limit, capacity - state.level);
    }
    const tokens = Math.floor(level / windowMs);
    const need = cost * windowMs;
    if (need <= level) {
      const next: TokenBucketState = { level: level - need, lastMs: t };
      const resetMs = Math.ceil((capacity - next.level) / limit);
      return charge(allowed(limit, tokens - cost, resetMs), cost, () => next);
    }
    return {
      decision: denied(
        limit,
        tokens,
        Math.ceil((capacity - level) / limit),
        Math.ceil((need - level) / limit),
      ),
    };
  },
  expiresAtMs(state, { limit, windowMs }) {
    return state.lastMs + Math.ceil((limit * windowMs - state.level) / limit);
  },
};
