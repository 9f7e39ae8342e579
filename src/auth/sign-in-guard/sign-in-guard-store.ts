/**
 * The sign-in guard's store port: the operations that must be atomic in the engine. A store keeps
 * one small state per key (an account or a client IP) and decides an attempt against it with
 * `decideAttempt` (`attempt-backoff.ts`); everything else (keys, scopes, errors, metrics, fail
 * mode) is written once in `SignInGuard`.
 *
 * Why not the rate-limit port (`src/ratelimit/rate-limit-store.ts`): its `take` decides a quota per
 * window, while the guard needs state the five algorithms do not keep (a failure count with the time
 * of the last failure for a doubling delay, and a lockout count for a doubling lock), a decision
 * over two keys (account and IP) charged all or nothing, and refunds and resets on success.
 * Bending `take` to that would need several policies, read-then-write races and new operations
 * anyway; a four-number state and three operations are smaller.
 *
 * Time comes from the caller (`nowMs`), never from the engine, so tests inject a clock and both
 * drivers give identical verdicts.
 */

/**
 * The thresholds of one scope (account or IP). Integers, in ms where named so. See
 * `attempt-backoff.ts` for exactly how they combine; `SignInGuard` documents the defaults.
 */
export interface BackoffRules {
  /** Failures answered at once; from this many on, each attempt must wait a doubling delay. */
  readonly freeFailures: number;
  /** The first delay (after `freeFailures` failures), doubled at each further failure. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** This many failures (with no success in between) lock the key. */
  readonly lockAfterFailures: number;
  /** The first lock's length, doubled at each further lock while lockouts are remembered. */
  readonly baseLockMs: number;
  readonly maxLockMs: number;
  /** One failure is forgiven per this many ms since the last failure. */
  readonly forgiveMs: number;
  /** Lockouts (the doubling of locks) are forgotten this long after the last lock ended. */
  readonly lockoutMemoryMs: number;
}

/** One key's state: four numbers. The empty state is all zeros. */
export interface GuardState {
  /** Failures charged (attempts admitted and not reported successful), before forgiveness. */
  readonly failures: number;
  readonly lastFailureMs: number;
  /** Locks so far (while remembered): the next lock lasts `baseLockMs × 2^lockouts`. */
  readonly lockouts: number;
  /** 0, or when the last lock ends (may be in the past). */
  readonly lockedUntilMs: number;
}

export interface GuardVerdict {
  readonly outcome: 'admitted' | 'delayed' | 'locked';
  /** 0 when admitted; else ms until this key would admit the attempt if nothing else happens. */
  readonly retryAfterMs: number;
}

/** A key and the rules it is decided by (the account and the IP scope have different ones). */
export interface GuardKey {
  readonly key: string;
  readonly rules: BackoffRules;
}

/** What a driver can do, declared by the driver (never inferred from its name). */
export interface SignInGuardStoreCapabilities {
  /** Several processes using the same store share counts (Redis: yes; memory: no). */
  readonly crossProcess: boolean;
}

/**
 * The port. Rules have passed `validateBackoffRules`; `nowMs` is a non-negative integer. Failures
 * reject with `AUTH_ERR_GUARD_UNAVAILABLE`.
 */
export interface SignInGuardStore {
  readonly capabilities: SignInGuardStoreCapabilities;
  /**
   * Decides an attempt against every key, in one atomic engine operation: when every key admits,
   * each is charged one failure; otherwise none is. Locks that fell due and forgotten lockouts are
   * recorded either way. Returns one verdict per key, in order.
   */
  admit(keys: readonly GuardKey[], nowMs: number): Promise<GuardVerdict[]>;
  /** Takes back one failure charged to `key` (never below zero), atomically. */
  refund(key: GuardKey, nowMs: number): Promise<void>;
  /** Forgets `key` entirely: failures, lockouts and any lock. */
  reset(key: string): Promise<void>;
  /** Releases connections and timers; later calls fail. Idempotent. */
  close(): Promise<void>;
}
