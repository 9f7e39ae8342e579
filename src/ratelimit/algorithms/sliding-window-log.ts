import { allowed, charge, denied, type RateLimitAlgorithm } from './algorithm.js';

/**
 * The log: one entry per ms in which units were taken, oldest first, as two parallel arrays used
 * as a queue from `head`. `sum` is the units of the entries from `head` on. Entries that have left
 * the window are removed only when a take is charged (so deciding never writes, and time seen by a
 * charged take is never forgotten); the arrays are compacted once more than half of them is dead.
 */
export interface SlidingWindowLogState {
  readonly ts: number[];
  readonly cost: number[];
  head: number;
  sum: number;
}

/** Slack before compaction, so short logs are not copied on every expiry. */
const COMPACT_MIN = 64;

/**
 * Sliding window log: at most `limit` units in any window of `windowMs` ending now, exactly. An entry
 * taken at `ts` counts while `ts > now − windowMs`. Memory grows with the entries in the window (at
 * most min(limit, windowMs) per key), which is why the counter and the buckets exist.
 *
 * - `remaining` = `limit` − units of the entries in the window.
 * - `resetMs` = until the newest entry leaves the window (0 with none).
 * - denied: `retryAfterMs` = until enough of the oldest entries have left to make room for `cost`.
 */
export const slidingWindowLog: RateLimitAlgorithm<SlidingWindowLogState> = {
  name: 'sliding-window-log',
  take(state, cost, nowMs, { limit, windowMs }) {
    const s = state ?? { ts: [], cost: [], head: 0, sum: 0 };
    const newest = s.ts.length > s.head ? s.ts[s.ts.length - 1]! : undefined;
    const t = newest === undefined ? nowMs : Math.max(nowMs, newest);
    let used = s.sum;
    let live = s.head;
    while (live < s.ts.length && s.ts[live]! <= t - windowMs) {
      used -= s.cost[live]!;
      live++;
    }
    if (used + cost <= limit) {
      const resetMs = cost > 0 ? windowMs : used > 0 ? newest! + windowMs - t : 0;
      return charge(allowed(limit, limit - used - cost, resetMs), cost, () => append(s, live, used, t, cost));
    }
    const need = used + cost - limit;
    let freed = 0;
    let retryAfterMs = 0;
    for (let i = live; i < s.ts.length; i++) {
      freed += s.cost[i]!;
      if (freed >= need) {
        retryAfterMs = s.ts[i]! + windowMs - t;
        break;
      }
    }
    return { decision: denied(limit, limit - used, newest! + windowMs - t, retryAfterMs) };
  },
  expiresAtMs(state, { windowMs }) {
    return state.ts.length > state.head ? state.ts[state.ts.length - 1]! + windowMs : 0;
  },
};

/** Drops the entries before `live` (left the window), then records `cost` units at `t`. */
function append(
  s: SlidingWindowLogState,
  live: number,
  used: number,
  t: number,
  cost: number,
): SlidingWindowLogState {
  s.head = live;
  s.sum = used + cost;
  const last = s.ts.length - 1;
  if (last >= s.head && s.ts[last] === t) {
    s.cost[last]! += cost;
    return s;
  }
  if (s.head >= COMPACT_MIN && s.head * 2 >= s.ts.length) {
    s.ts.splice(0, s.head);
    s.cost.splice(0, s.head);
    s.head = 0;
  }
  s.ts.push(t);
  s.cost.push(cost);
  return s;
}
