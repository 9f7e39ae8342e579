import { allowed, charge, denied, type RateLimitAlgorithm } from './algorithm.js';

export interface SlidingWindowCounterState {
  /** Start of the current window, a multiple of `windowMs`. */
  readonly startMs: number;
  /** Units charged in the current window. */
  readonly curr: number;
  /** Units charged in the window before it (0 if that window saw none or is older). */
  readonly prev: number;
}

/**
 * Sliding window counter, the two-counter approximation of the log (as Cloudflare and nginx-style
 * limiters use): windows are aligned to multiples of `windowMs`; at `e` ms into the current window
 * the units "in the last `windowMs`" are estimated as `prev × (windowMs − e) / windowMs + curr`,
 * and a take is allowed when that estimate plus `cost` is at most `limit`. Compared exactly in
 * integers: `prev × (windowMs − e) + (curr + cost) × windowMs ≤ limit × windowMs`.
 *
 * - `remaining` = `limit − curr − ⌈prev × (windowMs − e) / windowMs⌉` (allowed ⇔ cost ≤ remaining).
 * - `resetMs` = until the estimate is 0: the end of the next window when `curr` > 0 (it then weighs
 *   as `prev`), else the end of this window when `prev` > 0, else 0.
 * - denied: `retryAfterMs` = the first ms at which the estimate leaves room for `cost`: later in this
 *   window if `curr + cost ≤ limit` (prev's weight shrinks), else in the next one.
 */
export const slidingWindowCounter: RateLimitAlgorithm<SlidingWindowCounterState> = {
  name: 'sliding-window-counter',
  take(state, cost, nowMs, { limit, windowMs }) {
    const t = state === undefined ? nowMs : Math.max(nowMs, state.startMs);
    const startMs = t - (t % windowMs);
    let prev = 0;
    let curr = 0;
    if (state !== undefined) {
      if (startMs === state.startMs) {
        prev = state.prev;
        curr = state.curr;
      } else if (startMs === state.startMs + windowMs) {
        prev = state.curr;
      }
    }
    const elapsed = t - startMs;
    const prevPart = Math.ceil((prev * (windowMs - elapsed)) / windowMs);
    const available = Math.max(0, limit - curr - prevPart);
    if (cost <= available) {
      const charged = curr + cost;
      const resetMs = resetAfter(charged, prev, startMs, t, windowMs);
      const next: SlidingWindowCounterState = { startMs, curr: charged, prev };
      return charge(allowed(limit, available - cost, resetMs), cost, () => next);
    }
    const room = limit - curr - cost;
    // room ≥ 0: wait until prev's weight shrinks enough in this window (prev > 0, or it would fit).
    // room < 0: curr alone is too much; in the next window it weighs as prev (curr > 0 here).
    const retryAt =
      room >= 0
        ? startMs + (windowMs - Math.floor((room * windowMs) / prev))
        : startMs + windowMs + (windowMs - Math.floor(((limit - cost) * windowMs) / curr));
    return {
      decision: denied(limit, available, resetAfter(curr, prev, startMs, t, windowMs), retryAt - t),
    };
  },
  expiresAtMs(state, { windowMs }) {
    return state.startMs + (state.curr > 0 ? 2 * windowMs : windowMs);
  },
};

function resetAfter(curr: number, prev: number, startMs: number, t: number, windowMs: number): number {
  if (curr > 0) return startMs + 2 * windowMs - t;
  if (prev > 0) return startMs + windowMs - t;
  return 0;
}
