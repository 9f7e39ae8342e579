import { allowed, charge, denied, type RateLimitAlgorithm } from './algorithm.js';

export interface FixedWindowState {
  /** When the current window began: the first take after the previous window ended. */
  readonly startMs: number;
  /** Units charged in this window. */
  readonly count: number;
}

/**
 * Fixed window: at most `limit` units in each window of `windowMs`. A key's window opens at its first
 * take and lasts `windowMs`; the next take after it ends opens a new one. Windows are per key rather
 * than aligned to the clock, so clients do not all get their quota back at the same instant
 * (draft-ietf-httpapi-ratelimit-headers §8.5).
 *
 * - `remaining` = `limit` − units charged in the window.
 * - `resetMs` = time to the window's end (0 with no open window).
 * - denied: `retryAfterMs` = time to the window's end (cost ≤ limit always fits a new window).
 *
 * A take of cost 0 opens no window.
 */
export const fixedWindow: RateLimitAlgorithm<FixedWindowState> = {
  name: 'fixed-window',
  take(state, cost, nowMs, { limit, windowMs }) {
    let startMs = nowMs;
    let count = 0;
    let t = nowMs;
    if (state !== undefined && nowMs < state.startMs + windowMs) {
      startMs = state.startMs;
      count = state.count;
      t = Math.max(nowMs, startMs);
    }
    if (count + cost <= limit) {
      const charged = count + cost;
      const resetMs = charged > 0 ? startMs + windowMs - t : 0;
      const next: FixedWindowState = { startMs, count: charged };
      return charge(allowed(limit, limit - charged, resetMs), cost, () => next);
    }
    const resetMs = startMs + windowMs - t;
    return { decision: denied(limit, limit - count, resetMs, resetMs) };
  },
  expiresAtMs(state, { windowMs }) {
    return state.startMs + windowMs;
  },
};
