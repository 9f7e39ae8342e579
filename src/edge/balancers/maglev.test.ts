import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { Maglev } from './maglev.js';

const t = (id: string, weight = 1, extra: Partial<Target> = {}): Target => ({
  id,
  address: id,
  weight,
  ...extra,
});
const group = (n: number) => Array.from({ length: n }, (_, i) => t(`node-${i}`));
const KEYS = Array.from({ length: 50_000 }, (_, i) => `key-${i}`);
const owners = (lb: Maglev, exclude?: ReadonlySet<string>) =>
  KEYS.map((hashKey) => lb.pick({ hashKey, exclude })!.id);

describe('Maglev hashing', () => {
  it('fills the table in near-exact weight proportion', () => {
    const lb = new Maglev({ targets: [t('a', 1), t('b', 2), t('c', 3), t('d', 4)] });
    const entries = lb.entries();
    expect(entries.reduce((a, b) => a + b, 0)).toBe(65_537);
    entries.forEach((n, i) => {
      expect(Math.abs(n - (65_537 * (i + 1)) / 10)).toBeLessThanOrEqual(5);
    });
    const even = new Maglev({ targets: group(7) }).entries();
    expect(Math.max(...even) - Math.min(...even)).toBeLessThanOrEqual(1);
  });

  it('removing 1 of 10 moves ≈ 1/10 of the keys, few of them not the removed target’s (Maglev’s near-minimal disruption)', () => {
    const lb = new Maglev({ targets: group(10) });
    const before = owners(lb);
    const after = owners(new Maglev({ targets: group(10).filter((x) => x.id !== 'node-4') }));
    let moved = 0;
    let collateral = 0;
    before.forEach((id, k) => {
      if (after[k] === id) return;
      moved++;
      if (id !== 'node-4') collateral++;
    });
    expect(Math.abs(moved / KEYS.length - 0.1)).toBeLessThanOrEqual(0.03);
    expect(collateral / KEYS.length).toBeLessThan(0.02); // the paper measures ≈ 1-2 % at this size
  });

  it('an unavailable or excluded target moves only its own keys, and they come back when it recovers', () => {
    const lb = new Maglev({ targets: group(10) });
    const before = owners(lb);
    const excluded = owners(lb, new Set(['node-4']));
    lb.setTargets(group(10).map((x) => (x.id === 'node-4' ? { ...x, available: false } : x)));
    const down = owners(lb);
    expect(down).toEqual(excluded);
    before.forEach((id, k) => {
      if (id !== 'node-4') expect(down[k]).toBe(id);
    });
    lb.setTargets(group(10));
    expect(owners(lb)).toEqual(before);
  });

  it('the table depends on the set of targets, not on their order', () => {
    expect(new Maglev({ targets: group(6).reverse(), tableSize: 1_009 }).entries().reverse()).toEqual(
      new Maglev({ targets: group(6), tableSize: 1_009 }).entries(),
    );
    expect(owners(new Maglev({ targets: group(6).reverse() }))).toEqual(
      owners(new Maglev({ targets: group(6) })),
    );
  });

  it('refuses a table size that is not a prime, or smaller than the group', () => {
    const code = expect.objectContaining({ code: 'EDGE_ERR_INVALID_BALANCER' });
    expect(() => new Maglev({ tableSize: 65_536 })).toThrow(code);
    expect(() => new Maglev({ tableSize: 3 })).toThrow(code);
    expect(() => new Maglev({ tableSize: 7, targets: group(8) })).toThrow(code);
  });
});
