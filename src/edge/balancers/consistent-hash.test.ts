import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { ConsistentHash } from './consistent-hash.js';
import { seededRandom } from './weighted-sampler.js';

const t = (id: string, weight = 1, extra: Partial<Target> = {}): Target => ({
  id,
  address: id,
  weight,
  ...extra,
});
const group = (n: number) => Array.from({ length: n }, (_, i) => t(`node-${i}`));
const KEYS = Array.from({ length: 100_000 }, (_, i) => `key-${i}`);

function owners(lb: ConsistentHash, keys = KEYS, exclude?: ReadonlySet<string>): string[] {
  return keys.map((hashKey) => lb.pick({ hashKey, exclude })!.id);
}

describe('consistent hashing on a ring with virtual nodes', () => {
  const N = 10;
  const lb = new ConsistentHash({ targets: group(N) });
  const before = owners(lb);

  it('removing 1 of N targets moves ≈ 1/N of 100 000 keys (± 3 %), and only keys it owned', () => {
    const removed = 'node-3';
    const after = owners(new ConsistentHash({ targets: group(N).filter((x) => x.id !== removed) }));
    let moved = 0;
    for (let k = 0; k < KEYS.length; k++) {
      if (after[k] === before[k]) continue;
      moved++;
      if (before[k] !== removed) expect.fail(`${KEYS[k]} moved from ${before[k]}, which stayed`);
    }
    expect(moved).toBe(before.filter((id) => id === removed).length); // every key it owned moved
    expect(Math.abs(moved / KEYS.length - 1 / N)).toBeLessThanOrEqual(0.03);
  });

  it('adding an (N+1)th target moves ≈ 1/(N+1) of the keys (± 3 %), all of them to it', () => {
    const after = owners(new ConsistentHash({ targets: [...group(N), t('node-new')] }));
    let moved = 0;
    for (let k = 0; k < KEYS.length; k++) {
      if (after[k] === before[k]) continue;
      moved++;
      if (after[k] !== 'node-new') expect.fail(`${KEYS[k]} moved to ${after[k]}, not to the new target`);
    }
    expect(Math.abs(moved / KEYS.length - 1 / (N + 1))).toBeLessThanOrEqual(0.03);
  });

  it('an excluded or unavailable owner sends its keys exactly where removing it would; no other key moves', () => {
    const gone = 'node-7';
    const removed = owners(new ConsistentHash({ targets: group(N).filter((x) => x.id !== gone) }));
    expect(owners(lb, KEYS, new Set([gone]))).toEqual(removed);
    const down = new ConsistentHash({
      targets: group(N).map((x) => (x.id === gone ? { ...x, available: false } : x)),
    });
    expect(owners(down)).toEqual(removed);
    // And they come back when it recovers (same ring: not rebuilt for an availability change).
    down.setTargets(group(N));
    expect(owners(down)).toEqual(before);
  });

  it('skips to the next distinct target: with every target but one excluded, that one gets every key', () => {
    const others = new Set(group(N).map((x) => x.id));
    others.delete('node-5');
    expect(new Set(owners(lb, KEYS.slice(0, 2_000), others))).toEqual(new Set(['node-5']));
  });

  it('property: for any group, removing a target moves only its keys and adding one moves keys only to it', () => {
    const keys = KEYS.slice(0, 1_000);
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            id: fc.string({ minLength: 1, maxLength: 6 }),
            weight: fc.integer({ min: 1, max: 3 }),
          }),
          {
            selector: (x) => x.id,
            minLength: 2,
            maxLength: 8,
          },
        ),
        fc.nat(),
        (specs, which) => {
          const targets = specs.map((s) => t(s.id, s.weight));
          const base = owners(new ConsistentHash({ targets, vnodesPerWeight: 20 }), keys);
          const gone = targets[which % targets.length]!.id;
          const smaller = owners(
            new ConsistentHash({ targets: targets.filter((x) => x.id !== gone), vnodesPerWeight: 20 }),
            keys,
          );
          base.forEach((id, k) => {
            if (smaller[k] !== id) expect(id).toBe(gone);
          });
          // Adding it back (at the end of the group) restores every key.
          const restored = owners(
            new ConsistentHash({
              targets: [...targets.filter((x) => x.id !== gone), targets[which % targets.length]!],
              vnodesPerWeight: 20,
            }),
            keys,
          );
          expect(restored).toEqual(base);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('the ring depends on the set of targets, not on their order (a DNS answer rotates its records)', () => {
    const keys = KEYS.slice(0, 5_000);
    const reversed = new ConsistentHash({ targets: group(N).reverse() });
    expect(owners(reversed, keys)).toEqual(before.slice(0, 5_000));
  });

  it('enough virtual nodes spread the load evenly: the share’s deviation shrinks ≈ 1/√vnodes', () => {
    const deviation = (vnodesPerWeight: number) => {
      const ring = new ConsistentHash({ targets: group(N), vnodesPerWeight });
      const counts = new Map<string, number>();
      for (const id of owners(ring)) counts.set(id, (counts.get(id) ?? 0) + 1);
      const shares = group(N).map((x) => ((counts.get(x.id) ?? 0) * N) / KEYS.length);
      return Math.sqrt(shares.reduce((sum, s) => sum + (s - 1) ** 2, 0) / N);
    };
    const [one, many, more] = [deviation(1), deviation(160), deviation(640)];
    expect(one).toBeGreaterThan(0.3); // one point per target: some own twice their share
    expect(many).toBeLessThan(0.12); // theory ≈ 1/√160 ≈ 0.08
    expect(more).toBeLessThan(0.06); // theory ≈ 0.04
  });

  it('keys: hashKey first, else the client IP normalised (one host, one target), else a random point', () => {
    const ring = new ConsistentHash({ targets: group(N), random: seededRandom(4) });
    for (let i = 0; i < 200; i++) {
      const v4 = `192.0.2.${i}`;
      const target = ring.pick({ clientIp: v4 });
      expect(ring.pick({ clientIp: `::ffff:${v4}` })).toBe(target);
      expect(ring.pick({ clientIp: `::FFFF:${v4}`, hashKey: undefined })).toBe(target);
    }
    expect(ring.pick({ clientIp: '2001:db8::1' })).toBe(ring.pick({ clientIp: '2001:DB8:0:0::0:1' }));
    expect(ring.pick({ hashKey: 'k', clientIp: '192.0.2.1' })).toBe(ring.pick({ hashKey: 'k' }));
    const spread = new Set(Array.from({ length: 300 }, () => ring.pick()!.id));
    expect(spread.size).toBe(N);
  });

  it('a weight-2 target gets twice the points; a slow-start weightFactor moves no key', () => {
    const ring = new ConsistentHash({ targets: [t('a', 2), t('b')], vnodesPerWeight: 10 });
    expect(ring.size).toBe(30);
    const keys = KEYS.slice(0, 5_000);
    const base = owners(ring, keys);
    ring.setTargets([t('a', 2, { weightFactor: 0.1 }), t('b')]);
    expect(owners(ring, keys)).toEqual(base);
  });

  it('refuses bad vnode counts and rings that would be too large', () => {
    const code = expect.objectContaining({ code: 'EDGE_ERR_INVALID_BALANCER' });
    expect(() => new ConsistentHash({ vnodesPerWeight: 0 })).toThrow(code);
    expect(() => new ConsistentHash({ vnodesPerWeight: 1.5 })).toThrow(code);
    const ring = new ConsistentHash({ targets: [t('a')] });
    expect(() => ring.setTargets([t('a', 10_000), t('b', 10_000)])).toThrow(code);
    expect(ring.targets().map((x) => x.id)).toEqual(['a']);
  });
});
