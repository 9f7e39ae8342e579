import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { WeightedRoundRobin } from './weighted-round-robin.js';

const t = (id: string, weight: number, extra: Partial<Target> = {}): Target => ({
  id,
  address: id,
  weight,
  ...extra,
});
const sequence = (lb: WeightedRoundRobin, n: number, exclude?: Set<string>) =>
  Array.from({ length: n }, () => lb.pick({ exclude })?.id).join(' ');

describe('smooth weighted round robin (nginx)', () => {
  it('weights {a: 5, b: 1, c: 1} give nginx’s documented sequence a a b a c a a, then repeat', () => {
    const lb = new WeightedRoundRobin({ targets: [t('a', 5), t('b', 1), t('c', 1)] });
    expect(sequence(lb, 14)).toBe('a a b a c a a a a b a c a a');
  });

  it('equal weights are plain round robin in group order; {a: 2, b: 1} interleaves a b a', () => {
    expect(sequence(new WeightedRoundRobin({ targets: [t('x', 3), t('y', 3), t('z', 3)] }), 6)).toBe(
      'x y z x y z',
    );
    expect(sequence(new WeightedRoundRobin({ targets: [t('a', 2), t('b', 1)] }), 6)).toBe('a b a a b a');
  });

  it('property: every window of Σw consecutive picks holds each target exactly weight times', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 6 }), (weights) => {
        const targets = weights.map((w, i) => t(`t${i}`, w));
        const lb = new WeightedRoundRobin({ targets });
        const total = weights.reduce((a, b) => a + b, 0);
        for (let window = 0; window < 3; window++) {
          const counts = new Map<string, number>();
          for (let i = 0; i < total; i++) {
            const id = lb.pick()!.id;
            counts.set(id, (counts.get(id) ?? 0) + 1);
          }
          for (const target of targets) expect(counts.get(target.id) ?? 0).toBe(target.weight);
        }
      }),
    );
  });

  it('an excluded or unavailable target sits the round out, as nginx skips tried and down peers', () => {
    const lb = new WeightedRoundRobin({ targets: [t('a', 5), t('b', 1), t('c', 1)] });
    expect(sequence(lb, 6, new Set(['a']))).toBe('b c b c b c');
    const down = new WeightedRoundRobin({ targets: [t('a', 5), t('b', 1, { available: false }), t('c', 1)] });
    // a:5, c:1 → a a a c a a (credits: the smooth sequence of {5, 1}).
    expect(sequence(down, 6)).toBe('a a a c a a');
  });

  it('credits are kept per id across setTargets, so a health flap does not restart the sequence', () => {
    const targets = [t('a', 5), t('b', 1), t('c', 1)];
    const lb = new WeightedRoundRobin({ targets });
    const first = sequence(lb, 3); // a a b
    lb.setTargets([...targets]); // same group, e.g. after a health check that changed nothing
    expect(`${first} ${sequence(lb, 4)}`).toBe('a a b a c a a');
  });

  it('weightFactor scales the effective weight (slow start): {a: 4, b: 4 × 0.25} is a a a a b', () => {
    const lb = new WeightedRoundRobin({ targets: [t('a', 4), t('b', 4, { weightFactor: 0.25 })] });
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 500; i++) counts[lb.pick()!.id as 'a' | 'b']++;
    expect(counts).toEqual({ a: 400, b: 100 });
  });
});
