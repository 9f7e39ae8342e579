import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stateExpiresAtMs } from '../../src/auth/sign-in-guard/attempt-backoff.js';
import { MemorySignInGuardStore } from '../../src/auth/sign-in-guard/drivers/memory-sign-in-guard-store.js';
import { RedisSignInGuardStore } from '../../src/auth/sign-in-guard/drivers/redis-sign-in-guard-store.js';
import {
  accountKey,
  type SignInAttempt,
  SignInGuard,
  type SignInGuardOptions,
} from '../../src/auth/sign-in-guard/sign-in-guard.js';
import type {
  BackoffRules,
  GuardState,
  SignInGuardStore,
} from '../../src/auth/sign-in-guard/sign-in-guard-store.js';
import { Metrics } from '../../src/core/metrics.js';
import { sharedRedis } from '../harness/shared-engines.js';

/**
 * The sign-in guard's behaviour, run against every store driver with a fake clock: the same
 * scenarios must give the same answers on the embedded (memory) and the distributed (Redis) store,
 * whose Lua repeats `attempt-backoff.ts`. The Redis part also shows two guards (two nodes) sharing
 * one count, and a randomised comparison of both drivers' verdicts.
 */

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
/** Redis keys outlive their state by this much; large, so real time never expires a key mid-test. */
const SLACK_MS = 10 * MIN;

const redis = sharedRedis();
let admin: Redis | undefined;
function adminClient(): Redis {
  admin ??= new Redis(redis.url);
  return admin;
}
afterAll(async () => {
  await admin?.quit();
});

interface Target {
  name: string;
  available: boolean;
  /** A store isolated from every other test; `prefix` is its Redis key prefix. */
  create(): Promise<{ store: SignInGuardStore; prefix?: string }>;
  /** Another store on the same shared state (another node), when the driver shares across processes. */
  sibling?(prefix: string): Promise<SignInGuardStore>;
}

const targets: Target[] = [
  {
    name: 'memory',
    available: true,
    create: async () => ({ store: new MemorySignInGuardStore({ sweepIntervalMs: 0 }) }),
  },
  {
    name: 'redis',
    available: redis.available,
    async create() {
      const prefix = `test:sig:${randomBytes(6).toString('hex')}:`;
      const store = new RedisSignInGuardStore({ url: redis.url, keyPrefix: prefix, expirySlackMs: SLACK_MS });
      await store.start();
      return { store, prefix };
    },
    async sibling(prefix) {
      const store = new RedisSignInGuardStore({ url: redis.url, keyPrefix: prefix, expirySlackMs: SLACK_MS });
      await store.start();
      return store;
    },
  },
];

interface Answer {
  status: number;
  code?: string;
  retryAfterS?: number;
  detail?: string;
}

for (const target of targets) {
  describe.skipIf(!target.available)(`sign-in guard on the ${target.name} store`, () => {
    let store: SignInGuardStore;
    let prefix: string | undefined;
    let now: number;
    const stores: SignInGuardStore[] = [];
    const guard = (options: Partial<SignInGuardOptions> = {}) =>
      new SignInGuard({ store, clock: () => now, ...options });

    beforeEach(async () => {
      now = T0;
      ({ store, prefix } = await target.create());
      stores.push(store);
    });
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    });

    async function tryOnce(g: SignInGuard, attempt: SignInAttempt): Promise<Answer> {
      const result = await g.admit(attempt);
      if (result.ok) return { status: 200 };
      const { error } = result;
      return {
        status: error.status,
        code: error.code,
        retryAfterS: Number(error.headers?.['retry-after']),
        ...(error.detail === undefined ? {} : { detail: error.detail }),
      };
    }

    /** Fails once: waits (advances the fake clock) while refused with 429, like a patient client. */
    async function failPatiently(g: SignInGuard, attempt: SignInAttempt): Promise<void> {
      for (;;) {
        const answer = await tryOnce(g, attempt);
        if (answer.status === 200) return;
        if (answer.status !== 429) throw new Error(`unexpected ${answer.status} ${answer.code}`);
        now += answer.retryAfterS! * 1_000;
      }
    }

    const alice: SignInAttempt = { collection: 'users', email: 'alice@example.com', ip: '203.0.113.7' };

    it('answers the first 5 failures at once, then asks for a delay doubling from 1 s', async () => {
      const g = guard();
      for (let i = 0; i < 5; i++) expect(await tryOnce(g, alice)).toEqual({ status: 200 });
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) {
        const early = await tryOnce(g, alice);
        expect(early).toMatchObject({ status: 429, code: 'AUTH_ERR_TOO_MANY_ATTEMPTS' });
        waits.push(early.retryAfterS!);
        now += early.retryAfterS! * 1_000 - 1; // one ms too early: still refused, 1 s left (rounded up)
        expect(await tryOnce(g, alice)).toMatchObject({ status: 429, retryAfterS: 1 });
        now += 1;
        expect(await tryOnce(g, alice)).toEqual({ status: 200 });
      }
      expect(waits).toEqual([1, 2, 4, 8, 16]);
    });

    it('locks the account after 10 failures (423), for 15 min, then admits again', async () => {
      const g = guard();
      for (let i = 0; i < 10; i++) await failPatiently(g, alice);
      const lastFailureAt = now;
      now += 5_000;
      const locked = await tryOnce(g, alice);
      expect(locked).toMatchObject({ status: 423, code: 'AUTH_ERR_ACCOUNT_LOCKED', retryAfterS: 895 });
      // The lock runs from the 10th failure; refused attempts do not extend it.
      now = lastFailureAt + 15 * MIN - 1;
      expect(await tryOnce(g, alice)).toMatchObject({ status: 423, retryAfterS: 1 });
      now += 1;
      expect(await tryOnce(g, alice)).toEqual({ status: 200 });
      // Unlocked, but the delays resume at once (no free attempts after a lock): 2 s, then 4 s…
      expect(await tryOnce(g, alice)).toMatchObject({ status: 429, retryAfterS: 2 });
      for (let i = 0; i < 4; i++) await failPatiently(g, alice);
      // …and 5 failures after the first lock, the second (30 min).
      expect(await tryOnce(g, alice)).toMatchObject({ status: 423, retryAfterS: 1_800 });
    });

    it('doubles the lock at each repeated lockout, up to 4 h, and forgets lockouts after 24 h', async () => {
      const g = guard();
      const locks: number[] = [];
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < (round === 0 ? 10 : 5); i++) await failPatiently(g, alice);
        const answer = await tryOnce(g, alice);
        expect(answer).toMatchObject({ status: 423 });
        locks.push(answer.retryAfterS!);
        now += answer.retryAfterS! * 1_000;
      }
      expect(locks).toEqual([900, 1_800, 3_600, 7_200, 14_400, 14_400]);
      // 24 h after the last lock ended (now), the next lock is the first again.
      now += 24 * HOUR;
      for (let i = 0; i < 10; i++) await failPatiently(g, alice);
      expect(await tryOnce(g, alice)).toMatchObject({ status: 423, retryAfterS: 900 });
    });

    it('forgives one failure per hour', async () => {
      const g = guard();
      for (let i = 0; i < 5; i++) await tryOnce(g, alice);
      expect(await tryOnce(g, alice)).toMatchObject({ status: 429 });
      now += HOUR; // 4 failures left: free again
      expect(await tryOnce(g, alice)).toEqual({ status: 200 });
      expect(await tryOnce(g, alice)).toMatchObject({ status: 429 });
    });

    it('a success resets the account, including its lockout history', async () => {
      const g = guard();
      for (let i = 0; i < 10; i++) await failPatiently(g, alice);
      now += 15 * MIN; // first lock served
      expect(await tryOnce(g, alice)).toEqual({ status: 200 });
      await g.recordSuccess(alice);
      for (let i = 0; i < 5; i++) expect(await tryOnce(g, alice)).toEqual({ status: 200 });
      expect(await tryOnce(g, alice)).toMatchObject({ status: 429, retryAfterS: 1 });
      for (let i = 0; i < 5; i++) await failPatiently(g, alice);
      // Lockouts were forgotten with the success: 15 min again, not 30.
      expect(await tryOnce(g, alice)).toMatchObject({ status: 423, retryAfterS: 900 });
    });

    it('counts parallel attempts before any password check: 20 at once, exactly 5 admitted', async () => {
      const g = guard();
      const answers = await Promise.all(Array.from({ length: 20 }, () => tryOnce(g, alice)));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(15);
    });

    it('refuses password spraying from one IP across many accounts (429), other IPs unaffected', async () => {
      const g = guard();
      const spray = (i: number): SignInAttempt => ({
        collection: 'users',
        email: `user${i}@example.com`,
        ip: alice.ip,
      });
      for (let i = 0; i < 50; i++) expect(await tryOnce(g, spray(i))).toEqual({ status: 200 });
      // No account has more than one failure, yet the IP must now wait.
      expect(await tryOnce(g, spray(50))).toMatchObject({ status: 429, retryAfterS: 1 });
      for (let i = 50; i < 100; i++) await failPatiently(g, spray(i));
      const locked = await tryOnce(g, spray(100));
      expect(locked).toMatchObject({ status: 429, code: 'AUTH_ERR_TOO_MANY_ATTEMPTS' });
      expect(locked.retryAfterS).toBeGreaterThan(14 * 60); // the IP's 15 min lock
      // The accounts themselves are not locked: the same user from another address gets in.
      expect(await tryOnce(g, { ...spray(3), ip: '198.51.100.20' })).toEqual({ status: 200 });
    });

    it("a success refunds the IP's attempt but does not reset the IP", async () => {
      const g = guard();
      const from = (i: number): SignInAttempt => ({
        collection: 'users',
        email: `u${i}@example.com`,
        ip: alice.ip,
      });
      for (let i = 0; i < 49; i++) await tryOnce(g, from(i));
      expect(await tryOnce(g, from(49))).toEqual({ status: 200 }); // the 50th, which succeeds
      await g.recordSuccess(from(49));
      expect(await tryOnce(g, from(50))).toEqual({ status: 200 }); // 49 → 50 failures
      expect(await tryOnce(g, from(51))).toMatchObject({ status: 429 }); // not reset to 0
    });

    it('answers the same for an existing and an unknown account, and keys on the normalised email', async () => {
      const g = guard();
      const known = { ...alice, ip: '' };
      const ghost = { collection: 'users', email: 'nobody-here@example.com', ip: '' };
      const answers: Answer[][] = [[], []];
      for (const [j, who] of [known, ghost].entries()) {
        now = T0 + j * 10 * HOUR;
        for (let i = 0; i < 12; i++) {
          answers[j]!.push(await tryOnce(g, who));
          now += 20_000;
        }
      }
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[0]!.at(-1)).toMatchObject({ status: 423 });
      // Case, surrounding spaces and Unicode normal form do not make a new account…
      now = T0 + 30 * HOUR;
      const variant = { collection: 'users', email: '  ALICE@Example.COM ', ip: '' };
      for (let i = 0; i < 5; i++) await tryOnce(g, known);
      expect(await tryOnce(g, variant)).toMatchObject({ status: 429 });
      // …but another auth collection does.
      expect(await tryOnce(g, { ...variant, collection: 'admins' })).toEqual({ status: 200 });
    });

    it('treats the addresses of one IPv6 /64 as one client', async () => {
      const g = guard({ ip: { freeFailures: 2, lockAfterFailures: 50 } });
      const at = (ip: string, i: number): SignInAttempt => ({
        collection: 'users',
        email: `v6-${i}@x.test`,
        ip,
      });
      expect(await tryOnce(g, at('2001:db8:1:2::1', 0))).toEqual({ status: 200 });
      expect(await tryOnce(g, at('2001:DB8:1:2:ffff::9', 1))).toEqual({ status: 200 });
      expect(await tryOnce(g, at('2001:db8:1:2:0:0:0:77', 2))).toMatchObject({ status: 429 });
      expect(await tryOnce(g, at('2001:db8:1:3::1', 3))).toEqual({ status: 200 });
    });

    it('without per-IP accounting, spraying is only limited per account', async () => {
      const g = guard({ ip: false });
      for (let i = 0; i < 120; i++) {
        expect(await tryOnce(g, { collection: 'users', email: `s${i}@x.test`, ip: alice.ip })).toEqual({
          status: 200,
        });
      }
    });

    it('counts outcomes in auth_sign_in_guard_total', async () => {
      const metrics = new Metrics({ processMetrics: false });
      const g = guard({ metrics });
      guard({ metrics }); // a second guard on the same registry shares the counter
      for (let i = 0; i < 6; i++) await tryOnce(g, alice);
      const text = await metrics.render();
      expect(text).toContain('auth_sign_in_guard_total{outcome="admitted"} 5');
      expect(text).toContain('auth_sign_in_guard_total{outcome="delayed"} 1');
    });

    it('fail-closed refuses with 503 when the store is down; fail-open admits, marked degraded', async () => {
      const errors: string[] = [];
      const closed = guard({ onStoreError: (e) => errors.push(e.code) });
      const open = guard({ failMode: 'open' });
      await store.close();
      expect(await tryOnce(closed, alice)).toMatchObject({ status: 503, code: 'AUTH_ERR_GUARD_UNAVAILABLE' });
      expect(await open.admit(alice)).toEqual({ ok: true, degraded: true });
      await closed.recordSuccess(alice); // never rejects
      expect(errors).toEqual(['AUTH_ERR_GUARD_UNAVAILABLE', 'AUTH_ERR_GUARD_UNAVAILABLE']);
    });

    if (target.sibling) {
      const sibling = target.sibling;

      it('two guards (two nodes) share one count through the store', async () => {
        const nodeA = guard();
        const other = await sibling(prefix!);
        stores.push(other);
        const nodeB = new SignInGuard({ store: other, clock: () => now });
        for (let i = 0; i < 5; i++)
          expect(await tryOnce(i % 2 ? nodeA : nodeB, alice)).toEqual({ status: 200 });
        expect(await tryOnce(nodeB, alice)).toMatchObject({ status: 429, retryAfterS: 1 });
        for (let i = 0; i < 5; i++) await failPatiently(i % 2 ? nodeB : nodeA, alice);
        expect(await tryOnce(nodeA, alice)).toMatchObject({ status: 423, retryAfterS: 900 });
        expect(await tryOnce(nodeB, alice)).toMatchObject({ status: 423, retryAfterS: 900 });
        await nodeB.recordSuccess(alice); // e.g. the lock was lifted by a password reset on node B
        expect(await tryOnce(nodeA, alice)).toEqual({ status: 200 });
      });

      it('keys expire with their state and never name the email', async () => {
        const g = guard();
        await tryOnce(g, alice);
        const keys = await adminClient().keys(`${prefix}*`);
        expect(keys).toHaveLength(2); // account and IP
        expect(keys.join()).not.toContain('alice');
        expect(keys).toContain(`${prefix}${accountKey('users', 'alice@example.com')}`);
        // One failure on the account: forgiven after 1 h (+ slack); on the IP after 1 min (+ slack).
        const ttls = (await Promise.all(keys.map((k) => adminClient().pttl(k)))).sort((a, b) => a - b);
        expect(ttls[0]).toBeGreaterThan(MIN + SLACK_MS - 5_000);
        expect(ttls[0]).toBeLessThanOrEqual(MIN + SLACK_MS);
        expect(ttls[1]).toBeGreaterThan(HOUR + SLACK_MS - 5_000);
        expect(ttls[1]).toBeLessThanOrEqual(HOUR + SLACK_MS);
        await g.recordSuccess(alice); // account deleted, IP refunded to zero: deleted
        expect(await adminClient().keys(`${prefix}*`)).toEqual([]);
      });

      it('keeps a locked account as long as its lockout is remembered', async () => {
        const g = guard({ ip: false });
        for (let i = 0; i < 10; i++) await failPatiently(g, alice);
        const lastFailureAt = now;
        now += 60_000;
        expect(await tryOnce(g, alice)).toMatchObject({ status: 423 });
        // Lockouts are forgotten 24 h after the lock ends; the lock ends within maxLockMs (4 h).
        const [key] = await adminClient().keys(`${prefix}*`);
        const expected = lastFailureAt + 4 * HOUR + 24 * HOUR - now + SLACK_MS;
        const pttl = await adminClient().pttl(key!);
        expect(pttl).toBeGreaterThan(expected - 5_000);
        expect(pttl).toBeLessThanOrEqual(expected);
      });

      const tiny = (lockAfterFailures: number): BackoffRules => ({
        freeFailures: 0,
        lockAfterFailures,
        baseDelayMs: 1,
        maxDelayMs: 1,
        baseLockMs: 1,
        maxLockMs: 1,
        forgiveMs: 1,
        lockoutMemoryMs: 0,
      });
      const attempt = { kind: 'attempt' as const, who: 0, ip: 0 };
      const success = { kind: 'success' as const, who: 0, ip: 0 };
      const wait = (ms: number) => ({ kind: 'wait' as const, ms });
      const regressionOps = [
        attempt,
        success,
        attempt,
        attempt,
        success,
        attempt,
        wait(1),
        success,
        wait(-1),
        attempt,
      ];

      it('decides exactly like the memory driver on random rules and sequences (verdicts to the ms)', async () => {
        const duration = (min: number, max: number) => fc.integer({ min, max });
        const rulesArb = fc
          .record({
            freeFailures: fc.integer({ min: 0, max: 3 }),
            lockAfterFailures: fc.integer({ min: 1, max: 7 }),
            baseDelayMs: duration(1, 300),
            extraDelayMs: duration(0, 1_000),
            baseLockMs: duration(1, 2_000),
            extraLockMs: duration(0, 5_000),
            forgiveMs: duration(1, 5_000),
            lockoutMemoryMs: duration(0, 20_000),
          })
          .map(
            ({ extraDelayMs, extraLockMs, ...r }): BackoffRules => ({
              ...r,
              maxDelayMs: r.baseDelayMs + extraDelayMs,
              maxLockMs: r.baseLockMs + extraLockMs,
            }),
          );
        // Mostly attempts, and waits about as long as delays and locks, so sequences reach locks,
        // repeated lockouts, forgiveness and forgotten lockouts; a few steps back (clock skew).
        const op = fc.oneof(
          {
            weight: 6,
            arbitrary: fc.record({ kind: fc.constant('attempt' as const), who: fc.nat(2), ip: fc.nat(1) }),
          },
          {
            weight: 1,
            arbitrary: fc.record({ kind: fc.constant('success' as const), who: fc.nat(2), ip: fc.nat(1) }),
          },
          {
            weight: 4,
            arbitrary: fc.record({
              kind: fc.constant('wait' as const),
              ms: fc.integer({ min: -200, max: 2_500 }),
            }),
          },
        );
        await fc.assert(
          fc.asyncProperty(
            rulesArb,
            rulesArb,
            fc.array(op, { minLength: 40, maxLength: 150, size: 'max' }),
            async (rules, ipRules, ops) => {
              const memory = new MemorySignInGuardStore({ sweepIntervalMs: 0 });
              const { store: remote, prefix: remotePrefix } = await target.create();
              const both = [memory, remote];
              let t = T0;
              try {
                for (const o of ops) {
                  if (o.kind === 'wait') {
                    t += o.ms;
                    continue;
                  }
                  const account = { key: `a${o.who}`, rules };
                  const ip = { key: `i${o.ip}`, rules: ipRules };
                  if (o.kind === 'success') {
                    await Promise.all(both.flatMap((s) => [s.reset(account.key), s.refund(ip, t)]));
                  } else {
                    const [a, b] = await Promise.all(both.map((s) => s.admit([account, ip], t)));
                    expect(b).toEqual(a);
                  }
                  // The stored states are the same too (Redis may still hold one that no longer matters).
                  for (const key of [account.key, ip.key]) {
                    const raw = await adminClient().getBuffer(`${remotePrefix}${key}`);
                    const held: GuardState | undefined = raw
                      ? {
                          failures: raw.readDoubleLE(0),
                          lastFailureMs: raw.readDoubleLE(8),
                          lockouts: raw.readDoubleLE(16),
                          lockedUntilMs: raw.readDoubleLE(24),
                        }
                      : undefined;
                    const live =
                      held && stateExpiresAtMs(held, key === ip.key ? ipRules : rules) > t ? held : undefined;
                    expect(live).toEqual(memory.peek(key, t));
                  }
                }
              } finally {
                await Promise.all(both.map((s) => s.close()));
              }
            },
          ),
          {
            numRuns: 50,
            // Found by this test: a clock stepped back across an expiry once let the drivers differ
            // (Redis refunded a state the memory driver read as expired).
            examples: [[tiny(1), tiny(2), regressionOps]],
          },
        );
      });
    }
  });
}
