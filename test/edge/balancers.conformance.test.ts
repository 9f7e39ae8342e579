/**
 * One suite of distribution properties run against every load-balancing algorithm (and sticky
 * sessions around two of them): eligibility (never an excluded or unavailable target; `undefined`
 * only when nothing is eligible), weights honoured, and behaviour across `setTargets`. What is
 * particular to one algorithm is tested beside it in `src/edge/balancers/*.test.ts`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BALANCER_NAMES,
  type Balancer,
  type PickContext,
  type Target,
} from '../../src/edge/balancers/balancer.js';
import { createBalancer } from '../../src/edge/balancers/create-balancer.js';
import { StickySessions } from '../../src/edge/balancers/sticky-sessions.js';
import { type Random, seededRandom } from '../../src/edge/balancers/weighted-sampler.js';

interface Case {
  name: string;
  make: (targets: readonly Target[], random: Random, now: () => number) => Balancer;
  /**
   * Largest relative error of a target's share over 100 000 sequential picks with distinct keys,
   * or `undefined` when the algorithm ignores weights by design (round robin, peak EWMA: equal
   * shares are checked instead).
   */
  weightTolerance: number | undefined;
}

const STICKY_SECRET = 'conformance-secret-0123456789';

const cases: Case[] = [
  ...BALANCER_NAMES.map(
    (name): Case => ({
      name,
      // A 1009-entry Maglev table (the default is 65 537): the property test rebuilds it thousands
      // of times, and 1009 ≥ 100 × the 6 targets it uses, as the paper advises.
      make: (targets, random, now) => createBalancer(name, { targets, random, now, tableSize: 1009 }),
      // Exact for the round robins and least-connections at idle; binomial (σ ≈ 1 % at weight 1) for
      // the random ones and the hashes of distinct keys; the ring's shares also vary with the
      // placement of its 160 points per weight unit (σ ≈ 1/√160 ≈ 8 % at weight 1).
      weightTolerance:
        name === 'round-robin' || name === 'peak-ewma' ? undefined : name === 'consistent-hash' ? 0.12 : 0.05,
    }),
  ),
  {
    name: 'peak-ewma (p2c)',
    make: (targets, random, now) => createBalancer('peak-ewma', { targets, random, now, selection: 'p2c' }),
    weightTolerance: undefined,
  },
  {
    name: 'sticky(weighted-round-robin)',
    make: (targets) =>
      new StickySessions(createBalancer('weighted-round-robin', { targets }), { secret: STICKY_SECRET }),
    weightTolerance: 0.05,
  },
  {
    name: 'sticky(least-connections, signed)',
    make: (targets) =>
      new StickySessions(createBalancer('least-connections', { targets }), {
        secret: STICKY_SECRET,
        encoding: 'signed',
      }),
    weightTolerance: 0.05,
  },
];

const target = (id: string, weight = 1, extra: Partial<Target> = {}): Target => ({
  id,
  address: `http://127.0.0.1:${8000 + id.charCodeAt(0)}`,
  weight,
  ...extra,
});

const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** A request as the proxy would describe it: a hash key, a client IP, maybe a sticky cookie. */
const request = (i: number, extra: Partial<PickContext> = {}): PickContext => ({
  hashKey: `user-${i}`,
  clientIp: ipOf(i),
  ...extra,
});

function isEligibleIn(group: readonly Target[], picked: Target, exclude: ReadonlySet<string>): boolean {
  return group.includes(picked) && picked.available !== false && !exclude.has(picked.id);
}

/** One pick, checked against the eligibility contract, then run as a request. */
function pickChecked(
  lb: Balancer,
  group: readonly Target[],
  context: PickContext,
  latencyMs = 10,
): Target | undefined {
  const exclude = context.exclude ?? new Set<string>();
  const picked = lb.pick(context);
  const anyEligible = group.some((t) => t.available !== false && !exclude.has(t.id));
  // expect() only on a failure: this runs a million times per suite.
  if (picked === undefined) {
    if (anyEligible) expect.fail('undefined although a target was eligible');
    return undefined;
  }
  if (!isEligibleIn(group, picked, exclude)) expect.fail(`picked ${picked.id}, which is not eligible`);
  lb.onStart(picked);
  lb.onEnd(picked, { latencyMs, ok: true });
  return picked;
}

describe.each(cases)('balancer conformance: $name', ({ make, weightTolerance }) => {
  const fresh = (targets: readonly Target[], seed = 7) => {
    let nowMs = 0;
    const lb = make(targets, seededRandom(seed), () => (nowMs += 1));
    return lb;
  };

  it('an empty group, an all-unavailable group and an all-excluded pick give undefined', () => {
    expect(fresh([]).pick(request(1))).toBeUndefined();
    const down = [target('a', 1, { available: false }), target('b', 3, { available: false })];
    expect(fresh(down).pick(request(1))).toBeUndefined();
    const lb = fresh([target('a'), target('b', 2), target('c', 1, { available: false })]);
    for (let i = 0; i < 50; i++) {
      expect(lb.pick(request(i, { exclude: new Set(['a', 'b']) }))).toBeUndefined();
      expect(lb.pick(request(i, { exclude: new Set(['a', 'b', 'zzz']) }))).toBeUndefined();
    }
    // And without any context at all (no key, no IP), a target still comes back.
    expect(lb.pick()).toBeDefined();
  });

  it('never picks an excluded or unavailable target, even the one a key or cookie points at', () => {
    const group = [target('a', 1), target('b', 2), target('c', 3, { available: false }), target('d', 1)];
    const lb = fresh(group);
    // Learn where each request would go, then exclude exactly that target.
    for (let i = 0; i < 2_000; i++) {
      const natural = pickChecked(lb, group, request(i))!;
      const cookie = lb instanceof StickySessions ? lb.cookieValue(natural) : undefined;
      const exclude = new Set([natural.id]);
      const other = pickChecked(lb, group, request(i, { exclude, stickyCookie: cookie }))!;
      if (other.id === natural.id) expect.fail(`request ${i} went to the excluded ${natural.id}`);
      // Only one left: it must be that one.
      const last = pickChecked(
        lb,
        group,
        request(i, { exclude: new Set(['a', 'b', 'd'].filter((id) => id !== 'b')) }),
      );
      if (last?.id !== 'b') expect.fail(`request ${i}: only b was eligible, got ${last?.id}`);
    }
  });

  it('property: any group, exclusions, keys, loads and regroupings keep the eligibility contract', () => {
    const groupArb = fc.uniqueArray(
      fc.record({
        id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
        weight: fc.integer({ min: 1, max: 5 }),
        available: fc.boolean(),
        weightFactor: fc.option(fc.double({ min: 0.05, max: 1, noNaN: true }), { nil: undefined }),
      }),
      { selector: (t) => t.id, maxLength: 6 },
    );
    const stepArb = fc.oneof(
      fc.record({
        kind: fc.constant('pick' as const),
        key: fc.nat({ max: 1_000 }),
        exclude: fc.subarray(['a', 'b', 'c', 'd', 'e', 'f', 'x']),
        keyless: fc.boolean(),
        useCookie: fc.boolean(),
        hold: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('end' as const),
        which: fc.nat(),
        ok: fc.boolean(),
        latency: fc.nat(500),
      }),
      fc.record({ kind: fc.constant('regroup' as const), group: groupArb }),
    );
    fc.assert(
      fc.property(groupArb, fc.array(stepArb, { maxLength: 60 }), fc.integer(), (initial, steps, seed) => {
        let group: Target[] = initial.map((t) => target(t.id, t.weight, t));
        const lb = fresh(group, seed);
        const inflight: Target[] = [];
        let lastCookie: string | undefined;
        for (const step of steps) {
          if (step.kind === 'regroup') {
            group = step.group.map((t) => target(t.id, t.weight, t));
            lb.setTargets(group);
            expect(lb.targets()).toEqual(group);
          } else if (step.kind === 'end') {
            if (inflight.length === 0) continue;
            const [done] = inflight.splice(step.which % inflight.length, 1);
            lb.onEnd(done!, { latencyMs: step.latency, ok: step.ok });
          } else {
            const exclude = new Set(step.exclude);
            const context: PickContext = step.keyless
              ? { exclude }
              : request(step.key, { exclude, stickyCookie: step.useCookie ? lastCookie : undefined });
            const picked = lb.pick(context);
            const anyEligible = group.some((t) => t.available !== false && !exclude.has(t.id));
            if (picked === undefined) {
              expect(anyEligible).toBe(false);
              continue;
            }
            expect(isEligibleIn(group, picked, exclude)).toBe(true);
            if (lb instanceof StickySessions) lastCookie = lb.cookieValue(picked);
            lb.onStart(picked);
            if (step.hold) inflight.push(picked);
            else lb.onEnd(picked, { latencyMs: 5, ok: true });
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('weights are honoured over 100 000 sequential requests with distinct keys', () => {
    const group = [target('a', 1), target('b', 2), target('c', 3), target('d', 4)];
    const lb = fresh(group);
    const counts = new Map<string, number>();
    const picks = 100_000;
    for (let i = 0; i < picks; i++) {
      const picked = pickChecked(lb, group, request(i))!;
      counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
    }
    for (const t of group) {
      const expected = weightTolerance === undefined ? picks / group.length : (picks * t.weight) / 10;
      const error = Math.abs((counts.get(t.id) ?? 0) - expected) / expected;
      expect(error, `${t.id}: ${counts.get(t.id)} picks, expected ${expected}`).toBeLessThanOrEqual(
        weightTolerance ?? 0.05,
      );
    }
  });

  it('after setTargets, picks come only from the new group, and a removed target comes back when re-added', () => {
    const first = [target('a'), target('b'), target('c')];
    const lb = fresh(first);
    for (let i = 0; i < 300; i++) pickChecked(lb, first, request(i));
    const second = [target('b'), target('c'), target('e', 2)];
    lb.setTargets(second);
    const seen = new Set<string>();
    for (let i = 0; i < 3_000; i++) seen.add(pickChecked(lb, second, request(i))!.id);
    expect([...seen].sort()).toEqual(['b', 'c', 'e']);
    // Marking one unavailable takes it out; marking it available again brings it back.
    const third = [target('b', 1, { available: false }), target('c'), target('e', 2)];
    lb.setTargets(third);
    for (let i = 0; i < 3_000; i++) pickChecked(lb, third, request(i));
    lb.setTargets(second);
    const back = new Set<string>();
    for (let i = 0; i < 3_000; i++) back.add(pickChecked(lb, second, request(i))!.id);
    expect(back.has('b')).toBe(true);
  });

  it('an invalid group is refused with EDGE_ERR_INVALID_BALANCER and the old one stays', () => {
    const group = [target('a'), target('b')];
    const lb = fresh(group);
    for (const bad of [
      [target('a'), target('a')],
      [target('')],
      [target('a', 0)],
      [target('a', 1.5)],
      [target('a', 10_001)],
      [target('a', 1, { weightFactor: 0 })],
      [target('a', 1, { weightFactor: 1.5 })],
    ]) {
      expect(() => lb.setTargets(bad)).toThrow(
        expect.objectContaining({ code: 'EDGE_ERR_INVALID_BALANCER' }),
      );
    }
    expect(lb.targets()).toEqual(group);
    for (let i = 0; i < 100; i++) pickChecked(lb, group, request(i));
  });

  it('a target that answers is picked again: no algorithm starves an idle, healthy target', () => {
    const group = [target('a'), target('b'), target('c')];
    const lb = fresh(group);
    const seen = new Set<string>();
    for (let i = 0; i < 3_000; i++) seen.add(pickChecked(lb, group, request(i))!.id);
    expect(seen.size).toBe(3);
  });
});

describe.each(cases.filter((c) => c.weightTolerance !== undefined))(
  'weighted balancer: $name',
  ({ make }) => {
    it('weightFactor lowers a target’s share for the weighted choosers (slow start)', () => {
      const group = [target('a', 2), target('b', 2, { weightFactor: 0.25 })];
      const lb = make(group, seededRandom(3), () => 0);
      let b = 0;
      for (let i = 0; i < 20_000; i++) if (pickChecked(lb, group, request(i))!.id === 'b') b++;
      const hashing = ['ip-hash', 'consistent-hash', 'maglev'].includes(lb.name);
      // Hashing keeps placements (a ramp must not move keys): b keeps half. The others: 1/(4+1) = 20 %.
      expect(b / 20_000).toBeCloseTo(hashing ? 0.5 : 0.2, 1);
    });
  },
);

it('createBalancer refuses an unknown algorithm name', () => {
  expect(() => createBalancer('fastest-please', { targets: [] })).toThrow(
    expect.objectContaining({ code: 'EDGE_ERR_INVALID_BALANCER' }),
  );
});
