import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithmName,
  type RateLimitPolicy,
} from '../rate-limit-store.js';
import type { RateLimitAlgorithm } from './algorithm.js';
import { algorithms } from './index.js';

const T0 = 1_700_000_040_000;

/** Runs takes through an algorithm like a store would, keeping the committed state. */
class Harness {
  state: unknown;
  constructor(
    readonly algorithm: RateLimitAlgorithm<unknown>,
    readonly policy: RateLimitPolicy,
  ) {}

  take(cost: number, nowMs: number) {
    const step = this.algorithm.take(this.state, cost, nowMs, this.policy);
    if (step.commit) this.state = step.commit();
    return step.decision;
  }

  /** A cost-0 query on a copy-free path: queries never write. */
  query(nowMs: number) {
    return this.algorithm.take(this.state, 0, nowMs, this.policy).decision;
  }

  /** A fresh harness with a snapshot of the state (the log's state is mutable). */
  fork(): Harness {
    const copy = new Harness(this.algorithm, this.policy);
    copy.state = structuredClone(this.state);
    return copy;
  }
}

const policyArb = (algorithm: RateLimitAlgorithmName) =>
  fc.record({
    name: fc.constant('p'),
    algorithm: fc.constant(algorithm),
    limit: fc.integer({ min: 1, max: 20 }),
    windowMs: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 51, max: 20_000 })),
  });

/** A timeline: (gap before the take in ms, cost as a fraction of the limit). */
const stepsArb = fc.array(fc.tuple(fc.nat({ max: 3_000 }), fc.double({ min: 0, max: 1, noNaN: true })), {
  minLength: 1,
  maxLength: 40,
});
const costOf = (fraction: number, limit: number) => Math.min(limit, Math.floor(fraction * (limit + 1)));

describe.each(RATE_LIMIT_ALGORITHMS)('%s: decision invariants', (name) => {
  const algorithm = algorithms[name];

  it('allowed ⇔ cost ≤ remaining before; an allowed take lowers remaining by cost; a denied take changes nothing', () => {
    fc.assert(
      fc.property(policyArb(name), stepsArb, (policy, steps) => {
        const h = new Harness(algorithm, policy);
        let now = T0;
        for (const [gap, fraction] of steps) {
          now += gap;
          const cost = costOf(fraction, policy.limit);
          const before = h.query(now);
          const decision = h.take(cost, now);
          expect(decision.allowed).toBe(cost <= before.remaining);
          expect(decision.limit).toBe(policy.limit);
          expect(decision.remaining).toBeGreaterThanOrEqual(0);
          const after = h.query(now);
          if (decision.allowed) {
            expect(decision.retryAfterMs).toBe(0);
            expect(decision.remaining).toBe(before.remaining - cost);
            expect(after).toEqual(decision);
          } else {
            expect(decision.retryAfterMs).toBeGreaterThan(0);
            expect(after).toEqual(before);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('retryAfterMs is exact: the refused take passes then, and not 1 ms earlier', () => {
    fc.assert(
      fc.property(
        policyArb(name),
        stepsArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        (policy, steps, f) => {
          const h = new Harness(algorithm, policy);
          let now = T0;
          for (const [gap, fraction] of steps) {
            now += gap;
            h.take(costOf(fraction, policy.limit), now);
          }
          const cost = Math.max(1, costOf(f, policy.limit));
          const probe = h.fork().take(cost, now);
          if (probe.allowed) return;
          expect(h.fork().take(cost, now + probe.retryAfterMs - 1).allowed).toBe(false);
          expect(h.fork().take(cost, now + probe.retryAfterMs).allowed).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('resetMs is exact: the quota is full then, and not 1 ms earlier; expired state decides like none', () => {
    fc.assert(
      fc.property(policyArb(name), stepsArb, (policy, steps) => {
        const h = new Harness(algorithm, policy);
        let now = T0;
        for (const [gap, fraction] of steps) {
          now += gap;
          h.take(costOf(fraction, policy.limit), now);
        }
        const { resetMs } = h.query(now);
        expect(h.query(now + resetMs).remaining).toBe(policy.limit);
        if (resetMs > 0) expect(h.query(now + resetMs - 1).remaining).toBeLessThan(policy.limit);
        if (h.state === undefined) return;
        const expiresAt = algorithm.expiresAtMs(h.state, policy);
        const fresh = new Harness(algorithm, policy);
        for (const cost of [0, 1, policy.limit]) {
          expect(h.fork().take(cost, expiresAt)).toEqual(fresh.fork().take(cost, expiresAt));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a client that spends at most `remaining` within `resetMs` is never refused (the header promise)', () => {
    fc.assert(
      fc.property(
        policyArb(name),
        stepsArb,
        fc.array(fc.nat(), { maxLength: 20 }),
        (policy, steps, offsets) => {
          const h = new Harness(algorithm, policy);
          let now = T0;
          for (const [gap, fraction] of steps) {
            now += gap;
            h.take(costOf(fraction, policy.limit), now);
          }
          const { resetMs } = h.query(now);
          let { remaining } = h.query(now);
          const times = offsets.map((o) => now + (resetMs === 0 ? 0 : o % resetMs)).sort((a, b) => a - b);
          for (const t of times) {
            if (remaining === 0) break;
            expect(h.take(1, t).allowed).toBe(true);
            remaining--;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('quota bounds', () => {
  it('fixed window: at most `limit` units charged in any one window, each inside its window', () => {
    fc.assert(
      fc.property(policyArb('fixed-window'), stepsArb, (policy, steps) => {
        const h = new Harness(algorithms['fixed-window'], policy);
        let now = T0;
        const perWindow = new Map<number, number>();
        for (const [gap, fraction] of steps) {
          now += gap;
          const cost = costOf(fraction, policy.limit);
          if (!h.take(cost, now).allowed || cost === 0) continue;
          const { startMs } = h.state as { startMs: number };
          expect(now).toBeGreaterThanOrEqual(startMs);
          expect(now).toBeLessThan(startMs + policy.windowMs);
          perWindow.set(startMs, (perWindow.get(startMs) ?? 0) + cost);
        }
        for (const total of perWindow.values()) expect(total).toBeLessThanOrEqual(policy.limit);
        // Windows never overlap.
        const starts = [...perWindow.keys()];
        for (let i = 1; i < starts.length; i++) {
          expect(starts[i]!).toBeGreaterThanOrEqual(starts[i - 1]! + policy.windowMs);
        }
      }),
    );
  });

  it('sliding log: at most `limit` units in every window of windowMs ms', () => {
    fc.assert(
      fc.property(policyArb('sliding-window-log'), stepsArb, (policy, steps) => {
        const h = new Harness(algorithms['sliding-window-log'], policy);
        let now = T0;
        const charged: [number, number][] = [];
        for (const [gap, fraction] of steps) {
          now += gap;
          const cost = costOf(fraction, policy.limit);
          if (h.take(cost, now).allowed && cost > 0) charged.push([now, cost]);
        }
        for (const [end] of charged) {
          const inWindow = charged.filter(([t]) => t > end - policy.windowMs && t <= end);
          expect(inWindow.reduce((sum, [, c]) => sum + c, 0)).toBeLessThanOrEqual(policy.limit);
        }
      }),
    );
  });

  it('token bucket and GCRA decide identically on a monotonic clock (GCRA is the bucket in one timestamp)', () => {
    fc.assert(
      fc.property(policyArb('token-bucket'), stepsArb, (policy, steps) => {
        const bucket = new Harness(algorithms['token-bucket'], policy);
        const gcra = new Harness(algorithms.gcra, { ...policy, algorithm: 'gcra' });
        let now = T0;
        for (const [gap, fraction] of steps) {
          now += gap;
          const cost = costOf(fraction, policy.limit);
          expect(gcra.take(cost, now)).toEqual(bucket.take(cost, now));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('clock skew', () => {
  it.each(RATE_LIMIT_ALGORITHMS)('%s: a nowMs before the last update is never more lenient', (name) => {
    fc.assert(
      fc.property(
        policyArb(name),
        stepsArb,
        fc.integer({ min: 1, max: 30_000 }),
        fc.nat(),
        (policy, steps, skew, c) => {
          const h = new Harness(algorithms[name], policy);
          let now = T0 + 40_000;
          for (const [gap, fraction] of steps) {
            now += gap;
            h.take(costOf(fraction, policy.limit), now);
          }
          const cost = c % (policy.limit + 1);
          const normal = h.fork().take(cost, now);
          const skewed = h.fork().take(cost, now - skew);
          if (skewed.allowed) expect(normal.allowed).toBe(true);
          expect(h.fork().query(now - skew).remaining).toBeLessThanOrEqual(h.fork().query(now).remaining);
          if (!skewed.allowed && !normal.allowed) {
            expect(skewed.retryAfterMs).toBeGreaterThanOrEqual(normal.retryAfterMs);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each(['fixed-window', 'sliding-window-log', 'token-bucket'] as const)(
    '%s decides a nowMs before the last update as at the update',
    (name) => {
      const policy: RateLimitPolicy = { name: 'p', algorithm: name, limit: 2, windowMs: 1_000 };
      const h = new Harness(algorithms[name], policy);
      h.take(1, T0 + 500);
      expect(h.fork().take(2, T0 + 400)).toEqual(h.fork().take(2, T0 + 500));
    },
  );
});
