import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isGroundworkError } from '../../core/errors.js';
import {
  decideAttempt,
  doubled,
  refundAttempt,
  stateExpiresAtMs,
  validateBackoffRules,
} from './attempt-backoff.js';
import { accountKey, DEFAULT_ACCOUNT_RULES, DEFAULT_IP_RULES, ipKey, ipScope } from './sign-in-guard.js';
import type { BackoffRules, GuardState } from './sign-in-guard-store.js';

const T0 = 1_700_000_000_000;

const rulesArb = fc
  .record({
    freeFailures: fc.integer({ min: 0, max: 4 }),
    lockAfterFailures: fc.integer({ min: 1, max: 8 }),
    baseDelayMs: fc.integer({ min: 1, max: 500 }),
    extraDelayMs: fc.integer({ min: 0, max: 2_000 }),
    baseLockMs: fc.integer({ min: 1, max: 3_000 }),
    extraLockMs: fc.integer({ min: 0, max: 10_000 }),
    forgiveMs: fc.integer({ min: 1, max: 5_000 }),
    lockoutMemoryMs: fc.integer({ min: 0, max: 30_000 }),
  })
  .map(
    ({ extraDelayMs, extraLockMs, ...r }): BackoffRules => ({
      ...r,
      maxDelayMs: r.baseDelayMs + extraDelayMs,
      maxLockMs: r.baseLockMs + extraLockMs,
    }),
  );

/** States reachable by attempts (each charged when admitted), refunds and resets, with their time. */
const reachableArb = fc
  .tuple(
    rulesArb,
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constant('attempt' as const) },
        { weight: 1, arbitrary: fc.constant('refund' as const) },
        { weight: 5, arbitrary: fc.integer({ min: -100, max: 3_000 }) },
      ),
      { minLength: 1, maxLength: 60, size: 'max' },
    ),
  )
  .map(([rules, ops]) => {
    let state: GuardState | undefined;
    let t = T0;
    for (const op of ops) {
      if (typeof op === 'number') t += op;
      else if (op === 'refund') state = refundAttempt(state) ?? state;
      else {
        const step = decideAttempt(state, t, rules);
        state = step.charged ?? (step.changed ? step.settled : state);
      }
    }
    return { rules, state, t };
  });

describe('attempt backoff (pure rules)', () => {
  it('doubled: base × 2^n bounded by max, never overflowing', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => doubled(1_000, n, 16_000))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 16_000,
    ]);
    expect(doubled(3, 10_000, 2 ** 36)).toBe(2 ** 36);
    expect(doubled(7, 0, 5)).toBe(5);
  });

  it('a state expired by stateExpiresAtMs decides exactly like no state', () => {
    fc.assert(
      fc.property(reachableArb, fc.integer({ min: 0, max: 100_000 }), ({ rules, state, t }, later) => {
        if (state === undefined) return;
        const at = Math.max(t, stateExpiresAtMs(state, rules)) + later;
        const expired = decideAttempt(state, at, rules);
        const fresh = decideAttempt(undefined, at, rules);
        expect(expired.verdict).toEqual(fresh.verdict);
        expect(expired.charged).toEqual(fresh.charged);
        // Lockouts are forgotten; failures may stay stored, but all forgiven.
        expect(expired.settled).toMatchObject({ lockouts: 0, lockedUntilMs: 0 });
      }),
      { numRuns: 500 },
    );
  });

  it('the expiry of a single failure is exact: forgiven after forgiveMs, not before', () => {
    // A single failure on the default account rules is forgiven after exactly forgiveMs.
    const rules = { ...DEFAULT_ACCOUNT_RULES, freeFailures: 0 };
    const one = decideAttempt(undefined, T0, rules).charged!;
    expect(stateExpiresAtMs(one, rules)).toBe(T0 + rules.forgiveMs);
    // 1 failure ≥ 0 free: wait 1 s × 2^(1 − 0) after it.
    expect(decideAttempt(one, T0 + 500, rules).verdict).toEqual({ outcome: 'delayed', retryAfterMs: 1_500 });
    expect(decideAttempt(one, T0 + rules.forgiveMs, rules).verdict.outcome).toBe('admitted');
  });

  it('refused attempts never charge, and an admitted one charges exactly one failure', () => {
    fc.assert(
      fc.property(reachableArb, fc.integer({ min: -100, max: 5_000 }), ({ rules, state, t }, dt) => {
        const step = decideAttempt(state, t + dt, rules);
        if (step.verdict.outcome === 'admitted') {
          expect(step.verdict.retryAfterMs).toBe(0);
          expect(step.charged!.failures).toBeGreaterThanOrEqual(1);
          expect(step.charged!.failures).toBeLessThanOrEqual(rules.lockAfterFailures);
        } else {
          expect(step.charged).toBeUndefined();
          expect(step.verdict.retryAfterMs).toBeGreaterThan(0);
          // Coming back when told to gets past this refusal (a lock can only give way to a delay).
          const again = decideAttempt(
            step.changed ? step.settled : state,
            t + dt + step.verdict.retryAfterMs,
            rules,
          );
          if (step.verdict.outcome === 'delayed') expect(again.verdict.outcome).toBe('admitted');
          else expect(again.verdict.outcome).not.toBe('locked');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refund takes back one failure and keeps the rest', () => {
    const state: GuardState = { failures: 3, lastFailureMs: T0, lockouts: 1, lockedUntilMs: T0 - 1 };
    expect(refundAttempt(state)).toEqual({ ...state, failures: 2 });
    expect(refundAttempt({ ...state, failures: 0 })).toBeUndefined();
    expect(refundAttempt(undefined)).toBeUndefined();
  });

  it('validates rules with CONFIG_ERR_INVALID naming the field', () => {
    expect(() => validateBackoffRules(DEFAULT_ACCOUNT_RULES, 'a')).not.toThrow();
    expect(() => validateBackoffRules(DEFAULT_IP_RULES, 'i')).not.toThrow();
    for (const bad of [
      { freeFailures: -1 },
      { lockAfterFailures: 0 },
      { forgiveMs: 1.5 },
      { maxLockMs: 2 ** 40 },
      { baseDelayMs: 10, maxDelayMs: 5 },
    ]) {
      let caught: unknown;
      try {
        validateBackoffRules({ ...DEFAULT_ACCOUNT_RULES, ...bad }, 'signInGuard.account');
      } catch (error) {
        caught = error;
      }
      expect(isGroundworkError(caught) && caught.code).toBe('CONFIG_ERR_INVALID');
      expect((caught as Error).message).toContain(Object.keys(bad)[0]!.replace('baseDelayMs', 'maxDelayMs'));
    }
  });
});

describe('sign-in guard keys', () => {
  it('groups IPv6 by /64, maps IPv4-mapped IPv6 to IPv4, leaves IPv4 alone', () => {
    expect(ipScope('203.0.113.9')).toBe('203.0.113.9');
    expect(ipScope('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(ipScope('2001:DB8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(ipScope('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipScope('::1')).toBe('0:0:0:0::/64');
    expect(ipKey('2001:db8:1:2::1')).toBe(ipKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(ipKey('2001:db8:1:2::1')).not.toBe(ipKey('2001:db8:1:3::1'));
  });

  it('normalises the email (case, spaces, Unicode form) and separates collections; no email in the key', () => {
    const key = accountKey('users', 'José@Example.com');
    expect(accountKey('users', '  jose\u0301@example.COM ')).toBe(key);
    expect(accountKey('admins', 'josé@example.com')).not.toBe(key);
    expect(key).toMatch(/^a:[A-Za-z0-9_-]{22}$/);
  });
});
