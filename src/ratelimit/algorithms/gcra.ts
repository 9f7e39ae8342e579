import { allowed, charge, denied, type RateLimitAlgorithm } from './algorithm.js';

export interface GcraState {
  /**
   * The theoretical arrival time (TAT) is `tatMs + rem / limit` ms: whole ms plus a remainder in
   * 1/limit-ms ticks (0 ≤ rem < limit), because the emission interval `windowMs / limit` is rarely a
   * whole number of ms and a fractional double would round differently over time.
   */
  readonly tatMs: number;
  readonly rem: number;
}

/**
 * GCRA, the leaky bucket as a meter (ITU-T I.371 virtual scheduling): emission interval
 * T = `windowMs / limit`, burst `limit` (tolerance τ = `windowMs` − T). Each unit pushes the
 * theoretical arrival time (TAT) forward by T from max(TAT, now); a take is allowed when the new TAT
 * is at most `windowMs` ahead of now. Equivalent to a token bucket of `limit` refilled at
 * `limit / windowMs` per ms, in one stored time instead of a level and a time.
 *
 * - `remaining` = whole units that fit before TAT would pass now + `windowMs`.
 * - `resetMs` = max(0, TAT − now) rounded up: until the bucket has fully drained.
 * - denied: `retryAfterMs` = time until the take would fit (rounded up to the ms).
 *
 * A `nowMs` earlier than the last update is used as is down to ⌈TAT − windowMs⌉ (the state does not
 * record the update time): a node with a slow clock is stricter, never more lenient.
 */
export const gcra: RateLimitAlgorithm<GcraState> = {
  name: 'gcra',
  take(state, cost, nowMs, { limit, windowMs }) {
    // All in ticks of 1/limit ms: T = windowMs ticks, the bucket holds limit × windowMs.
    const capacity = limit * windowMs;
    let t = nowMs;
    let backlog = 0;
    if (state !== undefined) {
      // No earlier than ⌈TAT − windowMs⌉ (at or before the last update): the backlog never exceeds
      // the capacity, and an earlier nowMs (clock skew between nodes) is stricter, never more lenient.
      t = Math.max(nowMs, state.tatMs - windowMs + (state.rem > 0 ? 1 : 0));
      if (state.tatMs >= t) backlog = (state.tatMs - t) * limit + state.rem;
    }
    const tokens = Math.floor((capacity - backlog) / windowMs);
    const need = cost * windowMs;
    if (backlog + need <= capacity) {
      const newBacklog = backlog + need;
      const whole = Math.floor(newBacklog / limit);
      const next: GcraState = { tatMs: t + whole, rem: newBacklog - whole * limit };
      return charge(allowed(limit, tokens - cost, Math.ceil(newBacklog / limit)), cost, () => next);
    }
    return {
      decision: denied(
        limit,
        tokens,
        Math.ceil(backlog / limit),
        Math.ceil((backlog + need - capacity) / limit),
      ),
    };
  },
  expiresAtMs(state) {
    return state.tatMs + (state.rem > 0 ? 1 : 0);
  },
};
