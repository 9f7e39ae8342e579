import { GroundworkError } from '../../core/errors.js';
import type { BackoffRules, GuardState, GuardVerdict } from './sign-in-guard-store.js';

/**
 * The sign-in guard's decision logic over one key's state, without I/O: the memory driver calls it
 * directly and the Redis driver's Lua (`drivers/redis-sign-in-guard-scripts.ts`) repeats it
 * operation by operation; the conformance suite holds them to the same verdicts. Integers only,
 * with +, -, ×, floor, max and min, so JavaScript and Lua doubles agree exactly.
 *
 * One attempt at `nowMs`, in this order:
 * 1. A lock that fell due is recorded: when the stored failures reached `lockAfterFailures`, the key
 *    was locked from the time of that last failure for `baseLockMs × 2^(lockouts)` (bounded by
 *    `maxLockMs`); `lockouts` counts it, and the failures restart at `freeFailures` (below the
 *    threshold): after a lock, attempts go through the doubling delays again, not the free ones.
 *    (Recorded lazily, at the next attempt, so an attempt that brought the count to the threshold
 *    and then succeeded, which resets or refunds it, never locks anyone.)
 * 2. Lockouts are forgotten `lockoutMemoryMs` after the end of the last lock.
 * 3. Locked until a time after `nowMs` → `locked`, retry when the lock ends.
 * 4. Failures are forgiven one per `forgiveMs` since the last failure or the end of the last lock,
 *    whichever is later (a lock's time is not also counted as forgiveness).
 * 5. With f > 0 failures left and f ≥ `freeFailures`, the attempt must come at least
 *    `baseDelayMs × 2^(f − freeFailures)` (bounded by `maxDelayMs`) after the last failure, else
 *    `delayed`, retry when that wait is over.
 * 6. Otherwise `admitted`: charged as a failure (f + 1, last failure = now) until the caller
 *    reports a success.
 */

export const EMPTY_STATE: GuardState = { failures: 0, lastFailureMs: 0, lockouts: 0, lockedUntilMs: 0 };

export interface AttemptStep {
  readonly verdict: GuardVerdict;
  /** The state after steps 1–2, stored when the attempt is not charged (this or another key refused). */
  readonly settled: GuardState;
  /** Whether `settled` differs from the stored state (a lock fell due, or lockouts were forgotten). */
  readonly changed: boolean;
  /** Present when admitted: the state with this attempt charged as a failure. */
  readonly charged?: GuardState;
}

/** `base × 2^exponent`, at most `max`, by doubling (exact in doubles, no overflow). */
export function doubled(base: number, exponent: number, max: number): number {
  let value = base;
  for (let i = 0; i < exponent && value < max; i++) value *= 2;
  return Math.min(value, max);
}

export function decideAttempt(
  state: GuardState | undefined,
  nowMs: number,
  rules: BackoffRules,
): AttemptStep {
  let { failures, lockouts, lockedUntilMs } = state ?? EMPTY_STATE;
  const last = (state ?? EMPTY_STATE).lastFailureMs;
  let changed = false;
  if (failures >= rules.lockAfterFailures) {
    lockouts += 1;
    lockedUntilMs = last + doubled(rules.baseLockMs, lockouts - 1, rules.maxLockMs);
    failures = Math.min(rules.freeFailures, rules.lockAfterFailures - 1);
    changed = true;
  }
  if (lockouts > 0 && nowMs >= lockedUntilMs + rules.lockoutMemoryMs) {
    lockouts = 0;
    lockedUntilMs = 0;
    changed = true;
  }
  const settled: GuardState = { failures, lastFailureMs: last, lockouts, lockedUntilMs };
  if (lockedUntilMs > nowMs) {
    return { verdict: { outcome: 'locked', retryAfterMs: lockedUntilMs - nowMs }, settled, changed };
  }
  const forgiven = Math.floor(Math.max(0, nowMs - Math.max(last, lockedUntilMs)) / rules.forgiveMs);
  const f = Math.max(0, failures - forgiven);
  if (f > 0 && f >= rules.freeFailures) {
    const readyAt = last + doubled(rules.baseDelayMs, f - rules.freeFailures, rules.maxDelayMs);
    if (nowMs < readyAt) {
      return { verdict: { outcome: 'delayed', retryAfterMs: readyAt - nowMs }, settled, changed };
    }
  }
  return {
    verdict: { outcome: 'admitted', retryAfterMs: 0 },
    settled,
    changed,
    // max: a node whose clock is behind never moves the last failure back (never more lenient).
    charged: { failures: f + 1, lastFailureMs: Math.max(nowMs, last), lockouts, lockedUntilMs },
  };
}

/**
 * Takes back one charged failure (a success reported for an admitted attempt, on the IP scope).
 * The last-failure time stays: the refunded attempt did happen. Undefined: nothing to change.
 */
export function refundAttempt(state: GuardState | undefined): GuardState | undefined {
  if (state === undefined || state.failures === 0) return undefined;
  return { ...state, failures: state.failures - 1 };
}

/**
 * From this time on `state` decides exactly like no state, so a store may drop it (memory sweep,
 * Redis PX): its failures are all forgiven and, if it was ever locked (or a lock is due), its
 * lockouts are forgotten. A lock ends by `lastFailureMs + maxLockMs` at the latest, and a lock that
 * falls due leaves at most `failures` to forgive after it.
 */
export function stateExpiresAtMs(state: GuardState, rules: BackoffRules): number {
  const owed = state.failures * rules.forgiveMs;
  let at = Math.max(state.lastFailureMs, state.lockedUntilMs) + owed;
  if (state.lockouts > 0 || state.failures >= rules.lockAfterFailures) {
    at = Math.max(at, state.lastFailureMs + rules.maxLockMs + Math.max(rules.lockoutMemoryMs, owed));
  }
  return at;
}

/** True when `state` decides like no state at any time (nothing worth storing). */
export function isEmptyState(state: GuardState): boolean {
  return state.failures === 0 && state.lockouts === 0;
}

/** Largest count (`freeFailures`, `lockAfterFailures`) and duration (ms, about 2.2 years) accepted. */
const MAX_COUNT = 10_000;
const MAX_DURATION_MS = 2 ** 36;

/**
 * Throws `CONFIG_ERR_INVALID` naming the first rule that is not a usable integer. The bounds keep
 * every product of a count by a duration, plus an epoch time, far below 2^53: exact in JavaScript
 * and in Lua alike.
 */
export function validateBackoffRules(rules: BackoffRules, label: string): void {
  const check = (name: keyof BackoffRules, min: number, max: number) => {
    const value = rules[name];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new GroundworkError('CONFIG_ERR_INVALID', {
        detail: `${label}.${name} must be an integer from ${min} to ${max}, got ${String(value)}.`,
      });
    }
  };
  check('freeFailures', 0, MAX_COUNT);
  check('lockAfterFailures', 1, MAX_COUNT);
  check('baseDelayMs', 1, MAX_DURATION_MS);
  check('maxDelayMs', 1, MAX_DURATION_MS);
  check('baseLockMs', 1, MAX_DURATION_MS);
  check('maxLockMs', 1, MAX_DURATION_MS);
  check('forgiveMs', 1, MAX_DURATION_MS);
  check('lockoutMemoryMs', 0, MAX_DURATION_MS);
  if (rules.maxDelayMs < rules.baseDelayMs || rules.maxLockMs < rules.baseLockMs) {
    throw new GroundworkError('CONFIG_ERR_INVALID', {
      detail: `${label}: maxDelayMs must be ≥ baseDelayMs and maxLockMs ≥ baseLockMs.`,
    });
  }
}
