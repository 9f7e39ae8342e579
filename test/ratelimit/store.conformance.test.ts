import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryRateLimitStore } from '../../src/ratelimit/drivers/memory-store.js';
import { RedisRateLimitStore } from '../../src/ratelimit/drivers/redis-store.js';
import {
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithmName,
  type RateLimitPolicy,
  type RateLimitStore,
} from '../../src/ratelimit/rate-limit-store.js';
import { waitFor } from '../harness/engines.js';
import { sharedRedis } from '../harness/shared-engines.js';

/** A multiple of every window below, so the sliding counter's aligned windows start at T0. */
const T0 = 1_700_000_040_000;
/** Redis keys outlive their state by this much; large, so real time never expires a key mid-test. */
const SLACK_MS = 60_000;

interface Target {
  name: string;
  available: boolean;
  /** A store isolated from every other test (own memory, or own Redis key prefix). */
  create(): Promise<Fixture>;
}

interface Fixture {
  store: RateLimitStore;
  /** Live state entries/keys; for memory, after dropping what has expired at `nowMs`. */
  liveKeys(nowMs: number): Promise<number>;
  /** Redis only: each key's PTTL in ms. */
  ttls?(): Promise<number[]>;
  close(): Promise<void>;
}

const redis = sharedRedis();
let admin: Redis | undefined;
/** A plain client for looking at keys, opened on first use. */
function adminClient(): Redis {
  admin ??= new Redis(redis.url);
  return admin;
}

const targets: Target[] = [
  {
    name: 'memory',
    available: true,
    async create() {
      const store = new MemoryRateLimitStore({ sweepIntervalMs: 0, expirySlackMs: 0 });
      return {
        store,
        liveKeys: async (nowMs) => {
          store.sweep(nowMs);
          return store.size;
        },
        close: () => store.close(),
      };
    },
  },
  {
    name: 'redis',
    available: redis.available,
    async create() {
      const prefix = `test:rl:${randomBytes(6).toString('hex')}:`;
      const store = new RedisRateLimitStore({ url: redis.url, keyPrefix: prefix, expirySlackMs: SLACK_MS });
      await store.start();
      const keys = async () => adminClient().keys(`${prefix}*`);
      return {
        store,
        liveKeys: async () => (await keys()).length,
        ttls: async () => Promise.all((await keys()).map((key) => adminClient().pttl(key))),
        close: () => store.close(),
      };
    },
  },
];

afterAll(async () => {
  await admin?.quit();
});

type Expect = [
  atMs: number,
  cost: number,
  allowed: boolean,
  remaining: number,
  resetMs: number,
  retryAfterMs: number,
];

const policy = (algorithm: RateLimitAlgorithmName, limit: number, windowMs: number): RateLimitPolicy => ({
  name: 'p',
  algorithm,
  limit,
  windowMs,
});

/**
 * Scripted timelines: [ms after T0, cost, allowed, remaining, resetMs, retryAfterMs] per take, worked
 * out by hand from each algorithm's TSDoc. Token bucket and GCRA share theirs: on a monotonic clock
 * they are the same limiter (limit 5 per 10 s = one token per 2 s; limit 3 per 1 s = one per 333⅓ ms).
 */
const bucketTimeline = (algorithm: 'token-bucket' | 'gcra') => ({
  [`${algorithm}, whole refill`]: {
    policy: policy(algorithm, 5, 10_000),
    steps: [
      [0, 3, true, 2, 6_000, 0],
      [0, 3, false, 2, 6_000, 2_000], // needs 1 more token: 2 s; refused takes charge nothing
      [1_000, 2, true, 0, 9_000, 0], // 2.5 tokens → 2 taken, 0.5 left
      [1_500, 1, false, 0, 8_500, 500], // 0.75 tokens
      [2_000, 1, true, 0, 10_000, 0],
      [2_001, 1, false, 0, 9_999, 1_999],
      [12_000, 0, true, 5, 0, 0], // a whole window later: full
      [12_000, 5, true, 0, 10_000, 0],
    ] satisfies Expect[],
  },
  [`${algorithm}, fractional refill`]: {
    policy: policy(algorithm, 3, 1_000),
    steps: [
      [0, 3, true, 0, 1_000, 0],
      [333, 1, false, 0, 667, 1], // 0.999 tokens: 1/3 ms short, rounded up
      [334, 1, true, 0, 1_000, 0], // 1.002 tokens; full again after 999⅓ ms → 1 000
      [334, 0, true, 0, 1_000, 0],
    ] satisfies Expect[],
  },
});

const timelines: Record<string, { policy: RateLimitPolicy; steps: Expect[] }> = {
  'fixed-window': {
    policy: policy('fixed-window', 5, 10_000),
    steps: [
      [0, 1, true, 4, 10_000, 0], // the key's window opens at its first take
      [1_000, 3, true, 1, 9_000, 0],
      [2_000, 2, false, 1, 8_000, 8_000], // cost > 1 that does not fit: refused, nothing charged
      [2_000, 1, true, 0, 8_000, 0],
      [9_999, 1, false, 0, 1, 1], // last ms of the window
      [10_000, 1, true, 4, 10_000, 0], // boundary: a new window
      [10_000, 0, true, 4, 10_000, 0], // cost 0 is a query
      [25_000, 0, true, 5, 0, 0], // window over; a query opens none
      [25_000, 5, true, 0, 10_000, 0],
    ],
  },
  'sliding-window-log': {
    policy: policy('sliding-window-log', 5, 10_000),
    steps: [
      [0, 1, true, 4, 10_000, 0],
      [1_000, 2, true, 2, 10_000, 0],
      [1_000, 1, true, 1, 10_000, 0], // same ms: one entry of 3
      [3_000, 2, false, 1, 8_000, 7_000], // the t=0 unit leaves at 10 000
      [9_999, 1, true, 0, 10_000, 0],
      [10_000, 1, true, 0, 10_000, 0], // boundary: the t=0 entry has left (ts ≤ now − window)
      [10_500, 3, false, 0, 9_500, 500], // needs the 3 units of t=1 000, gone at 11 000
      [11_000, 3, true, 0, 10_000, 0],
      [11_000, 0, true, 0, 10_000, 0],
      [21_000, 0, true, 5, 0, 0],
    ],
  },
  'sliding-window-counter': {
    policy: policy('sliding-window-counter', 10, 10_000),
    steps: [
      [0, 4, true, 6, 20_000, 0], // full once this window's units no longer weigh: 2 windows
      [5_000, 6, true, 0, 15_000, 0],
      [9_000, 1, false, 0, 11_000, 2_000], // next window at 1 000 ms in: 10 × 0.9 = 9 weighed
      [10_000, 1, false, 0, 10_000, 1_000], // boundary: prev = 10 at full weight
      [11_000, 1, true, 0, 19_000, 0], // ⌈10 × 0.9⌉ = 9 weighed
      [12_500, 2, false, 1, 17_500, 500], // ⌈10 × 0.75⌉ = 8 weighed + 1
      [13_000, 2, true, 0, 17_000, 0], // 7 weighed + 1 + 2
      [25_000, 0, true, 8, 5_000, 0], // prev = 3 at half weight: ⌈1.5⌉ = 2
      [40_000, 0, true, 10, 0, 0], // both windows past
    ],
  },
  ...bucketTimeline('token-bucket'),
  ...bucketTimeline('gcra'),
};

for (const target of targets) {
  describe.skipIf(!target.available)(`rate-limit store conformance: ${target.name}`, () => {
    let fixture: Fixture;
    let n = 0;
    let key: string;

    beforeEach(async () => {
      fixture = await target.create();
      key = `client-${++n}`;
    });
    afterEach(() => fixture.close());

    describe('scripted timelines: exact decisions', () => {
      for (const [name, timeline] of Object.entries(timelines)) {
        it(name, async () => {
          for (const [at, cost, allowed, remaining, resetMs, retryAfterMs] of timeline.steps) {
            const decision = await fixture.store.take(key, cost, T0 + at, timeline.policy);
            expect({ at, cost, ...decision }).toEqual({
              at,
              cost,
              allowed,
              limit: timeline.policy.limit,
              remaining,
              resetMs,
              retryAfterMs,
            });
          }
        });
      }
    });

    it.each(RATE_LIMIT_ALGORITHMS)('%s: keys and policies are isolated', async (algorithm) => {
      const p = policy(algorithm, 2, 10_000);
      const other = { ...p, name: 'other' };
      expect((await fixture.store.take(key, 2, T0, p)).remaining).toBe(0);
      expect((await fixture.store.take(key, 1, T0, p)).allowed).toBe(false);
      expect(await fixture.store.take(`${key}-b`, 1, T0, p)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await fixture.store.take(key, 1, T0, other)).toMatchObject({ allowed: true, remaining: 1 });
      // Same name, other parameters: another policy, another state.
      expect(await fixture.store.take(key, 1, T0, { ...p, limit: 3 })).toMatchObject({ remaining: 2 });
    });

    it.each(RATE_LIMIT_ALGORITHMS)('%s: state expires when it stops mattering', async (algorithm) => {
      const p = policy(algorithm, 4, 10_000);
      const first = await fixture.store.take(key, 3, T0 + 100, p);
      const last = await fixture.store.take(key, 1, T0 + 2_100, p);
      expect(first.allowed && last.allowed).toBe(true);
      expect(await fixture.liveKeys(T0 + 2_100)).toBeGreaterThan(0);
      const expiresAt = T0 + 2_100 + last.resetMs;
      if (fixture.ttls) {
        // Redis: every key carries an expiry of (time until the state is moot) + slack.
        for (const ttl of await fixture.ttls()) {
          expect(ttl).toBeGreaterThan(0);
          expect(ttl).toBeLessThanOrEqual(last.resetMs + SLACK_MS);
          expect(ttl).toBeGreaterThan(last.resetMs + SLACK_MS - 5_000);
        }
      } else {
        expect(await fixture.liveKeys(expiresAt - 1)).toBe(1);
        expect(await fixture.liveKeys(expiresAt)).toBe(0);
      }
      // From then on the key decides like one never seen.
      expect(await fixture.store.take(key, 4, expiresAt, p)).toEqual(
        await fixture.store.take(`${key}-fresh`, 4, expiresAt, p),
      );
    });

    it('takeAll charges every policy or none', async () => {
      const burst = { ...policy('token-bucket', 2, 1_000), name: 'burst' };
      const hourly = { ...policy('sliding-window-log', 3, 3_600_000), name: 'hourly' };
      const both = [burst, hourly];
      expect((await fixture.store.takeAll(key, 2, T0, both)).map((d) => d.remaining)).toEqual([0, 1]);
      const refused = await fixture.store.takeAll(key, 1, T0, both);
      expect(refused.map((d) => d.allowed)).toEqual([false, true]);
      // The allowing policy reports its uncharged state, as a cost-0 query would.
      expect(refused[1]).toEqual(await fixture.store.take(key, 0, T0, hourly));
      expect(refused[0]!.retryAfterMs).toBe(500);
      expect((await fixture.store.takeAll(key, 1, T0 + 500, both)).map((d) => d.remaining)).toEqual([0, 0]);
      const quota = await fixture.store.takeAll(key, 1, T0 + 1_000, both);
      expect(quota.map((d) => d.allowed)).toEqual([true, false]);
      expect(await fixture.store.take(key, 0, T0 + 1_000, burst)).toMatchObject({ remaining: 1 });
    });

    it('concurrent takes never over-admit', async () => {
      const p = policy('fixed-window', 50, 60_000);
      const results = await Promise.all(Array.from({ length: 200 }, () => fixture.store.take(key, 1, T0, p)));
      expect(results.filter((d) => d.allowed)).toHaveLength(50);
      expect(new Set(results.filter((d) => d.allowed).map((d) => d.remaining)).size).toBe(50);
    });
  });
}

describe.skipIf(!redis.available)('redis driver = memory driver on random timelines', () => {
  let store: RedisRateLimitStore;
  beforeAll(async () => {
    store = new RedisRateLimitStore({
      url: redis.url,
      keyPrefix: `test:rl:${randomBytes(6).toString('hex')}:`,
      expirySlackMs: SLACK_MS,
    });
    await store.start();
  });
  afterAll(() => store.close());

  const algorithmArb = fc.constantFrom(...RATE_LIMIT_ALGORITHMS);
  const policiesArb = fc.uniqueArray(
    fc.record({
      name: fc.constantFrom('a', 'b', 'c'),
      algorithm: algorithmArb,
      limit: fc.integer({ min: 1, max: 12 }),
      windowMs: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 5_000 })),
    }),
    { minLength: 1, maxLength: 3, selector: (p) => p.name },
  );
  const stepsArb = fc.array(fc.tuple(fc.integer({ min: -20, max: 2_500 }), fc.nat()), {
    minLength: 1,
    maxLength: 30,
  });
  let run = 0;

  it('same decisions, step by step, including multi-policy takes and clock skew', async () => {
    await fc.assert(
      fc.asyncProperty(policiesArb, stepsArb, async (policies, steps) => {
        const memory = new MemoryRateLimitStore({ sweepIntervalMs: 0, expirySlackMs: SLACK_MS });
        const key = `fuzz-${++run}`;
        const maxCost = Math.min(...policies.map((p) => p.limit));
        let now = T0;
        for (const [gap, c] of steps) {
          now += gap; // small negative gaps: another node's clock a little behind
          const cost = c % (maxCost + 1);
          const expected = await memory.takeAll(key, cost, now, policies);
          const actual =
            policies.length === 1
              ? [await store.take(key, cost, now, policies[0]!)]
              : await store.takeAll(key, cost, now, policies);
          expect(actual).toEqual(expected);
        }
        await memory.close();
      }),
      { numRuns: 150 },
    );
  });

  it('keys vanish from Redis once expired (real PEXPIRE)', async () => {
    const short = new RedisRateLimitStore({
      url: redis.url,
      keyPrefix: `test:rl:exp:${run}:`,
      expirySlackMs: 0,
    });
    try {
      const now = Date.now();
      for (const algorithm of RATE_LIMIT_ALGORITHMS) {
        await short.take('k', 1, now, policy(algorithm, 5, 150));
      }
      const client = adminClient();
      expect((await client.keys(`test:rl:exp:${run}:*`)).length).toBe(6); // the log has two keys
      await waitFor(async () => (await client.keys(`test:rl:exp:${run}:*`)).length === 0, {
        timeoutMs: 5_000,
        what: 'rate-limit keys to expire',
      });
    } finally {
      await short.close();
    }
  });
});
