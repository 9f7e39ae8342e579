import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { AliasTable, sampleEligible, seededRandom } from './weighted-sampler.js';

describe('weighted sampling', () => {
  it('property: the alias table draws each index in proportion to its weight', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.05, max: 20, noNaN: true }), { minLength: 1, maxLength: 12 }),
        fc.integer(),
        (weights, seed) => {
          const table = new AliasTable(weights);
          const random = seededRandom(seed);
          const draws = 60_000;
          const counts = new Array<number>(weights.length).fill(0);
          for (let i = 0; i < draws; i++) counts[table.sample(random)]!++;
          const total = weights.reduce((a, b) => a + b, 0);
          weights.forEach((w, i) => {
            const p = w / total;
            const sigma = Math.sqrt(draws * p * (1 - p));
            expect(Math.abs(counts[i]! - draws * p)).toBeLessThanOrEqual(5 * sigma + 1);
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('sampleEligible keeps the weighted distribution among the eligible, in the O(1) and the scanning path', () => {
    const targets: Target[] = ['a', 'b', 'c', 'd'].map((id) => ({ id, address: id, weight: 1 }));
    const weights = Float64Array.from([1, 2, 3, 94]);
    const table = new AliasTable(weights);
    const random = seededRandom(8);
    const count = (exclude: Set<string>, skip = -1) => {
      const counts = [0, 0, 0, 0];
      for (let i = 0; i < 60_000; i++)
        counts[sampleEligible(targets, weights, table, random, exclude, skip)]!++;
      return counts.map((n) => n / 60_000);
    };
    // d (94 % of the weight) excluded: rejection misses often, so the scan decides many draws.
    const [a, b, c, d] = count(new Set(['d']));
    expect(d).toBe(0);
    expect(a).toBeCloseTo(1 / 6, 2);
    expect(b).toBeCloseTo(2 / 6, 2);
    expect(c).toBeCloseTo(3 / 6, 2);
    expect(count(new Set(['a', 'b']), 3)).toEqual([0, 0, 1, 0]);
    expect(sampleEligible(targets, weights, table, random, new Set(['a', 'b', 'c']), 3)).toBe(-1);
    expect(sampleEligible([], new Float64Array(0), new AliasTable([]), random, undefined)).toBe(-1);
  });

  it('seededRandom is reproducible and uniform enough', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const values = Array.from({ length: 10_000 }, () => a());
    expect(values.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.reduce((s, v) => s + v, 0) / values.length).toBeCloseTo(0.5, 1);
  });
});
