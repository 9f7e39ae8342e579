import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { RandomBalancer } from './random.js';
import { seededRandom } from './weighted-sampler.js';

const t = (id: string, weight = 1): Target => ({ id, address: id, weight });
const ok = { latencyMs: 1, ok: true };

describe('power of two choices', () => {
  it('property (seeded RNG): the most loaded target is never picked while another is eligible', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(50), { minLength: 2, maxLength: 10 }), // distinct loads: a strict maximum
        fc.integer(),
        (loads, seed) => {
          const targets = loads.map((_, i) => t(`t${i}`));
          const lb = new PowerOfTwoChoices({ targets, random: seededRandom(seed) });
          loads.forEach((n, i) => {
            for (let k = 0; k < n; k++) lb.onStart(targets[i]!);
          });
          const busiest = targets[loads.indexOf(Math.max(...loads))]!;
          for (let i = 0; i < 200; i++) expect(lb.pick()).not.toBe(busiest);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('of the two drawn, the less loaded one is taken: with loads 0..9 the picks lean to the idle end', () => {
    const targets = Array.from({ length: 10 }, (_, i) => t(`t${i}`));
    const lb = new PowerOfTwoChoices({ targets, random: seededRandom(5) });
    targets.forEach((target, i) => {
      for (let k = 0; k < i; k++) lb.onStart(target);
    });
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 45_000; i++) counts[Number(lb.pick()!.id.slice(1))]!++;
    // Target i wins when drawn with a busier one: P = 2 (9 − i) / (10 · 9), so 10 000 … 1 000 … 0.
    counts.forEach((n, i) => {
      expect(Math.abs(n - (45_000 * 2 * (9 - i)) / 90)).toBeLessThan(400);
    });
  });

  it('keeps the maximum load far below one random choice under the same load', () => {
    // 1 000 requests held on 100 targets: one random choice leaves a max of ≈ 16-20, two choices 11-12
    // (over seeds 1-20).
    const targets = Array.from({ length: 100 }, (_, i) => t(`t${i}`));
    const maxLoad = (lb: PowerOfTwoChoices | RandomBalancer) => {
      const loads = new Map<string, number>();
      for (let i = 0; i < 1_000; i++) {
        const picked = lb.pick()!;
        lb.onStart(picked);
        loads.set(picked.id, (loads.get(picked.id) ?? 0) + 1);
      }
      return Math.max(...loads.values());
    };
    const two = maxLoad(new PowerOfTwoChoices({ targets, random: seededRandom(1) }));
    const one = maxLoad(new RandomBalancer({ targets, random: seededRandom(1) }));
    expect(two).toBeLessThanOrEqual(13);
    expect(one).toBeGreaterThanOrEqual(two + 4);
  });

  it('compares load per unit of weight: 4 in flight on weight 4 beats 2 on weight 1', () => {
    const [heavy, light] = [t('heavy', 4), t('light', 1)];
    const lb = new PowerOfTwoChoices({ targets: [heavy, light], random: seededRandom(2) });
    for (let k = 0; k < 4; k++) lb.onStart(heavy);
    lb.onStart(light);
    lb.onStart(light);
    for (let i = 0; i < 50; i++) expect(lb.pick()).toBe(heavy);
    lb.onEnd(light, ok);
    lb.onEnd(light, ok); // light idle: 0 < 1
    for (let i = 0; i < 50; i++) expect(lb.pick()).toBe(light);
    expect(lb.inflight('heavy')).toBe(4);
  });

  it('a lone eligible target is returned even though no second one can be drawn', () => {
    const [a, b] = [t('a', 9), t('b')];
    const lb = new PowerOfTwoChoices({ targets: [a, b], random: seededRandom(3) });
    for (let i = 0; i < 50; i++) expect(lb.pick({ exclude: new Set(['b']) })).toBe(a);
    for (let i = 0; i < 50; i++) expect(lb.pick({ exclude: new Set(['a']) })).toBe(b);
  });
});
