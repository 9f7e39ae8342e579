import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { RoundRobin } from './round-robin.js';

const t = (id: string, weight = 1, extra: Partial<Target> = {}): Target => ({
  id,
  address: id,
  weight,
  ...extra,
});
const picks = (lb: RoundRobin, n: number, exclude?: Set<string>) =>
  Array.from({ length: n }, () => lb.pick({ exclude })?.id).join(' ');

describe('round robin', () => {
  it('takes the available targets in turn, ignoring weights', () => {
    const lb = new RoundRobin({ targets: [t('a', 5), t('b'), t('x', 1, { available: false }), t('c')] });
    expect(picks(lb, 7)).toBe('a b c a b c a');
  });

  it('steps over an excluded target and keeps its place in the rotation across setTargets', () => {
    const lb = new RoundRobin({ targets: [t('a'), t('b'), t('c')] });
    expect(picks(lb, 2, new Set(['b']))).toBe('a c');
    expect(picks(lb, 1)).toBe('a');
    lb.setTargets([t('a'), t('b'), t('c'), t('d')]);
    expect(picks(lb, 4)).toBe('b c d a');
  });
});
