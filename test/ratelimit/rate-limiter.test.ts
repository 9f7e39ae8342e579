import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GroundworkError, isGroundworkError } from '../../src/core/errors.js';
import { MemoryRateLimitStore } from '../../src/ratelimit/drivers/memory-store.js';
import { RedisRateLimitStore } from '../../src/ratelimit/drivers/redis-store.js';
import { rateLimitHeaders } from '../../src/ratelimit/headers.js';
import type { RateLimitPolicy, RateLimitStore } from '../../src/ratelimit/rate-limit-store.js';
import { RateLimiter, type RateLimitResult } from '../../src/ratelimit/rate-limiter.js';
import { engineAvailable, waitFor } from '../harness/engines.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { sharedRedis } from '../harness/shared-engines.js';

const burst: RateLimitPolicy = { name: 'burst', algorithm: 'token-bucket', limit: 3, windowMs: 1_000 };
const hourly: RateLimitPolicy = { name: 'hourly', algorithm: 'fixed-window', limit: 5, windowMs: 3_600_000 };

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isGroundworkError(error) ? error.code : `not a GroundworkError: ${String(error)}`;
  }
  return undefined;
}

const redis = sharedRedis();
const stores: { name: string; available: boolean; create(): RateLimitStore }[] = [
  { name: 'memory', available: true, create: () => new MemoryRateLimitStore() },
  {
    name: 'redis',
    available: redis.available,
    create: () =>
      new RedisRateLimitStore({ url: redis.url, keyPrefix: `test:rl:${randomBytes(6).toString('hex')}:` }),
  },
];

for (const target of stores) {
  describe.skipIf(!target.available)(`RateLimiter on ${target.name}: several policies`, () => {
    let limiter: RateLimiter;
    const clock = fakeClock();
    beforeAll(() => {
      limiter = new RateLimiter({
        store: target.create(),
        policies: [burst, hourly],
        failMode: 'closed',
        clock: clock.now,
      });
    });
    afterAll(() => limiter.close());

    it('every policy must allow; the result names the most restrictive one', async () => {
      const first = await limiter.check('ip:1');
      expect(first.allowed).toBe(true);
      expect(first.decisions.map((d) => [d.policy.name, d.remaining])).toEqual([
        ['burst', 2],
        ['hourly', 4],
      ]);
      expect(first.degraded).toBe(false);
      if (first.degraded) return;
      expect(first.decision.policy.name).toBe('burst'); // fewest units left

      const second = await limiter.check('ip:1', 2);
      expect(second.allowed).toBe(true);
      if (second.degraded) return;
      expect(second.decision).toMatchObject({ remaining: 0 });

      // Burst refuses; the hourly quota is not charged for a refused request.
      const refused = await limiter.check('ip:1');
      expect(refused.allowed).toBe(false);
      if (refused.degraded) return;
      expect(refused.decision).toMatchObject({ allowed: false, retryAfterMs: 334 });
      expect(refused.decision.policy.name).toBe('burst');
      expect(refused.decisions[1]).toMatchObject({ allowed: true, remaining: 2 });

      // A second later the burst is full again; the hourly quota now runs out first.
      clock.advance(1_000);
      expect((await limiter.check('ip:1', 2)).allowed).toBe(true);
      const quota = await limiter.check('ip:1');
      expect(quota.allowed).toBe(false);
      if (quota.degraded) return;
      expect(quota.decision.policy.name).toBe('hourly');
      expect(quota.decision.retryAfterMs).toBe(3_600_000 - 1_000);
      expect(rateLimitHeaders(quota, limiter.policies)).toEqual({
        'ratelimit-policy': '"burst";q=3;w=1, "hourly";q=5;w=3600',
        ratelimit: '"burst";r=1;t=1, "hourly";r=0;t=3599',
        'retry-after': '3599',
      });
      expect(limiter.counters).toMatchObject({ allowed: 3, denied: 2, storeErrors: 0 });
    });

    it('keys are independent', async () => {
      expect((await limiter.check('ip:2', 3)).allowed).toBe(true);
      expect((await limiter.check('ip:3', 3)).allowed).toBe(true);
    });
  });
}

describe('RateLimiter validation', () => {
  const store = new MemoryRateLimitStore({ sweepIntervalMs: 0 });
  const make = (policies: RateLimitPolicy[]) => () => new RateLimiter({ store, policies, failMode: 'open' });

  it('refuses bad policies with RATELIMIT_ERR_INVALID_POLICY', () => {
    const bad: RateLimitPolicy[][] = [
      [],
      [{ ...burst, limit: 0 }],
      [{ ...burst, limit: 1.5 }],
      [{ ...burst, windowMs: 0 }],
      [{ ...burst, windowMs: Number.NaN }],
      [{ ...burst, name: '' }],
      [{ ...burst, name: 'has space' }],
      [{ ...burst, name: 'a:b' }],
      [burst, { ...hourly, name: 'burst' }],
      [{ ...burst, algorithm: 'leaky' as RateLimitPolicy['algorithm'] }],
      [{ ...burst, limit: 1_000_000_000, windowMs: 31 * 24 * 3_600_000 }],
    ];
    for (const policies of bad)
      expect(codeOf(make(policies)), JSON.stringify(policies)).toBe('RATELIMIT_ERR_INVALID_POLICY');
    expect(codeOf(make([burst, hourly]))).toBeUndefined();
    expect(codeOf(() => new RateLimiter({ store, policies: [burst], failMode: 'ajar' as 'open' }))).toBe(
      'RATELIMIT_ERR_INVALID_POLICY',
    );
  });

  it('refuses a cost outside 0..min(limit) with RATELIMIT_ERR_INVALID_COST', async () => {
    const limiter = new RateLimiter({ store, policies: [burst, hourly], failMode: 'open' });
    for (const cost of [-1, 0.5, 4, Number.NaN]) {
      await expect(limiter.check('k', cost)).rejects.toMatchObject({ code: 'RATELIMIT_ERR_INVALID_COST' });
    }
    expect((await limiter.check('k', 0)).allowed).toBe(true);
    expect((await limiter.check('k', 3)).allowed).toBe(true);
  });
});

describe.skipIf(!engineAvailable('redis'))('RateLimiter when Redis goes away (dedicated Redis)', () => {
  let server: RedisServer;
  let store: RedisRateLimitStore;
  const errors: GroundworkError[] = [];
  let open: RateLimiter;
  let closed: RateLimiter;

  beforeAll(async () => {
    server = await startRedis();
    store = new RedisRateLimitStore({ url: server.url, connectTimeoutMs: 500, responseTimeoutMs: 500 });
    await store.start();
    const common = { store, policies: [burst], onStoreError: (e: GroundworkError) => errors.push(e) };
    open = new RateLimiter({ ...common, failMode: 'open' });
    closed = new RateLimiter({ ...common, failMode: 'closed' });
  });
  afterAll(async () => {
    await store?.close();
    await server?.destroy();
  });

  /** Checks must come back promptly even with Redis gone: no queueing, no retry loop. */
  async function timed(limiter: RateLimiter): Promise<{ result: RateLimitResult; ms: number }> {
    const started = performance.now();
    const result = await limiter.check(`user:${randomBytes(4).toString('hex')}`);
    return { result, ms: performance.now() - started };
  }

  it('fail-open allows and fail-closed refuses, both degraded and counted, then both recover', async () => {
    expect((await timed(open)).result).toMatchObject({ allowed: true, degraded: false });

    await server.stop();
    const down = await Promise.all([timed(open), timed(closed), timed(open), timed(closed)]);
    for (const { ms } of down) expect(ms).toBeLessThan(1_000);
    expect(down.map(({ result }) => [result.allowed, result.degraded])).toEqual([
      [true, true],
      [false, true],
      [true, true],
      [false, true],
    ]);
    expect(open.counters).toMatchObject({ storeErrors: 2, degradedAllowed: 2, degradedDenied: 0 });
    expect(closed.counters).toMatchObject({ storeErrors: 2, degradedAllowed: 0, degradedDenied: 2 });
    expect(errors.length).toBe(4);
    expect(errors.every((e) => e.code === 'RATELIMIT_ERR_STORE_UNAVAILABLE' && e.status === 503)).toBe(true);
    const degraded = down[1]!.result;
    // Nothing is known about the limits: only the static policy field is sent.
    expect(rateLimitHeaders(degraded, closed.policies)).toEqual({ 'ratelimit-policy': '"burst";q=3;w=1' });

    // Redis comes back empty (no scripts cached: EVALSHA → NOSCRIPT → EVAL) and limits resume.
    await server.start();
    await waitFor(async () => !(await closed.check('recovery')).degraded, {
      timeoutMs: 10_000,
      what: 'the limiter to reach the restarted Redis',
    });
    const after = await closed.check('fresh-after-restart', 3);
    expect(after).toMatchObject({ allowed: true, degraded: false });
    expect((await closed.check('fresh-after-restart')).allowed).toBe(false);
  });

  it('start() rejects promptly with RATELIMIT_ERR_STORE_UNAVAILABLE when Redis is down', async () => {
    await server.stop();
    try {
      const lonely = new RedisRateLimitStore({ url: server.url, connectTimeoutMs: 300 });
      const started = performance.now();
      await expect(lonely.start()).rejects.toMatchObject({ code: 'RATELIMIT_ERR_STORE_UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(2_000);
      await expect(lonely.take('k', 1, Date.now(), burst)).rejects.toMatchObject({
        code: 'RATELIMIT_ERR_STORE_UNAVAILABLE',
      });
      await lonely.close();
    } finally {
      await server.start();
    }
  });
});
