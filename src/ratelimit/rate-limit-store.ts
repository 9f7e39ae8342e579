/**
 * The rate-limit port: the one operation that must be atomic in the engine. A store keeps one small
 * state per (policy, key) and decides a take against it; everything else (validation, several
 * policies per request, fail-open/closed, counters, headers) is written once in `RateLimiter`.
 */

/**
 * The five algorithms. Every one counts in integer "quota units" (usually one per request), decides
 * a take of `cost` units atomically, and never charges a denied take. Their exact semantics (what
 * `remaining`, `resetMs` and `retryAfterMs` mean for each) are in `RateLimitDecision` and in the TSDoc
 * of `algorithms/*.ts`, which the Lua in `drivers/redis-scripts.ts` mirrors operation by operation.
 *
 * - `fixed-window`: at most `limit` units per window of `windowMs`; a key's window starts at its
 *   first take (not at a clock boundary, so clients do not all reset at once, draft §8.5).
 * - `sliding-window-log`: at most `limit` units in any `windowMs` ending now, exactly: one entry per
 *   millisecond with units taken, kept until it leaves the window. Memory grows with traffic.
 * - `sliding-window-counter`: the two-counter approximation of the log (Cloudflare's): windows
 *   aligned to multiples of `windowMs`; the previous window's count weighs in proportion to how much
 *   of it still overlaps the sliding window.
 * - `token-bucket`: capacity `limit`, refilled continuously at `limit` units per `windowMs`.
 * - `gcra`: the leaky bucket as a meter, in its GCRA form (ITU-T I.371 virtual scheduling): emission
 *   interval `windowMs / limit`, burst `limit`. Stores one theoretical arrival time per key. With a
 *   monotonic clock its decisions equal the token bucket's, bit for bit (a property test checks).
 */
export type RateLimitAlgorithmName =
  | 'fixed-window'
  | 'sliding-window-log'
  | 'sliding-window-counter'
  | 'token-bucket'
  | 'gcra';

export const RATE_LIMIT_ALGORITHMS: readonly RateLimitAlgorithmName[] = [
  'fixed-window',
  'sliding-window-log',
  'sliding-window-counter',
  'token-bucket',
  'gcra',
];

/**
 * One limit: `limit` units per `windowMs`, decided by `algorithm`.
 *
 * @example
 *   const burst: RateLimitPolicy = { name: 'burst', algorithm: 'token-bucket', limit: 10, windowMs: 1_000 };
 *   const hourly: RateLimitPolicy = { name: 'hourly', algorithm: 'sliding-window-counter', limit: 1000, windowMs: 3_600_000 };
 */
export interface RateLimitPolicy {
  /** Identifies the policy in headers (`RateLimit-Policy: "burst";q=10;w=1`) and in store keys. */
  readonly name: string;
  readonly algorithm: RateLimitAlgorithmName;
  /** Units allowed per window (the bucket capacity / burst for token-bucket and gcra); integer ≥ 1. */
  readonly limit: number;
  /** Window length in ms (the time to refill `limit` units for token-bucket and gcra); integer ≥ 1. */
  readonly windowMs: number;
}

/**
 * The outcome of one take. Invariants, for every algorithm:
 * - `allowed` ⇔ `cost ≤` the remaining units before the take; an allowed take lowers `remaining`
 *   by exactly `cost`; a denied take changes nothing (`remaining` is what is left, unchanged).
 * - `resetMs` is the time until the quota is **fully** restored (`remaining` back to `limit`) if no
 *   further take happens: the end of the fixed window; for the log, until its newest entry leaves the
 *   window; for the counter, until both weighted windows are past; for token-bucket and gcra, until
 *   the bucket is full again. 0 when the quota is already full. So a client that spends at most
 *   `remaining` within `resetMs` is never refused (what the draft's effective window `t` promises).
 * - `retryAfterMs` is 0 when allowed; when denied, the exact time until the same take would be
 *   allowed if nothing else happens (> 0).
 */
export interface RateLimitDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
  readonly retryAfterMs: number;
}

/** What a driver can do, declared by the driver (never inferred from its name). */
export interface RateLimitStoreCapabilities {
  /** Several processes using the same store share limits (Redis: yes; memory: no). */
  readonly crossProcess: boolean;
}

/**
 * The port. Preconditions, checked by `RateLimiter` (drivers assume them): `policy` passed
 * `validatePolicies`; `cost` is an integer in 0..`policy.limit`; `nowMs` is a non-negative integer.
 * A take of cost 0 is a pure query: it reports the state and never writes.
 *
 * Time comes from the caller (`nowMs`), never from the engine, so tests inject a clock and both
 * drivers give identical decisions. A `nowMs` earlier than the key's last update (clock skew between
 * nodes sharing Redis) never makes a decision more lenient: fixed window, log and token bucket
 * decide it as at the last update; the sliding counter and GCRA, whose states do not record that
 * time, decide it at the earlier time, which for them is stricter.
 */
export interface RateLimitStore {
  readonly capabilities: RateLimitStoreCapabilities;
  /** Decides and, when allowed, charges `cost` units of `policy` to `key`, atomically: one engine operation. */
  take(key: string, cost: number, nowMs: number, policy: RateLimitPolicy): Promise<RateLimitDecision>;
  /**
   * Several policies on one key, all or nothing, in one engine operation: when every policy allows,
   * each is charged `cost`; otherwise none is. The result has one decision per policy, in order; when
   * the take is refused, policies that would have allowed report their current (uncharged) state as
   * a cost-0 query does, and the refusing ones report their refusal.
   */
  takeAll(
    key: string,
    cost: number,
    nowMs: number,
    policies: readonly RateLimitPolicy[],
  ): Promise<RateLimitDecision[]>;
  /** Releases connections and timers; later takes fail. Idempotent. */
  close(): Promise<void>;
}
