import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExpiringMap } from './expiring-map.js';

describe('ExpiringMap', () => {
  it('serves a value before its deadline and drops it at the deadline', () => {
    const map = new ExpiringMap<string, number>(10);
    map.set('a', 1, 1_000);
    expect(map.get('a', 999)).toBe(1);
    expect(map.get('a', 1_000)).toBeUndefined();
    expect(map.size).toBe(0);
  });

  it('drops the oldest entry when full; a re-set key counts as new', () => {
    const map = new ExpiringMap<string, number>(2);
    map.set('a', 1, 100);
    map.set('b', 2, 100);
    map.set('a', 3, 100); // a is now the newest
    map.set('c', 4, 100); // drops b
    expect(map.get('b', 0)).toBeUndefined();
    expect(map.get('a', 0)).toBe(3);
    expect(map.get('c', 0)).toBe(4);
    expect(map.size).toBe(2);
  });

  it('deleteWhere drops exactly the matching values', () => {
    const map = new ExpiringMap<string, { owner: string }>(10);
    map.set('k1', { owner: 'x' }, 100);
    map.set('k2', { owner: 'y' }, 100);
    map.set('k3', { owner: 'x' }, 100);
    map.deleteWhere((value) => value.owner === 'x');
    expect([map.get('k1', 0), map.get('k2', 0), map.get('k3', 0)]).toEqual([
      undefined,
      { owner: 'y' },
      undefined,
    ]);
  });

  it('rejects a size that is not a positive integer', () => {
    expect(() => new ExpiringMap(0)).toThrow(RangeError);
    expect(() => new ExpiringMap(1.5)).toThrow(RangeError);
  });

  it('behaves like a model map with deadlines and a size bound, on random operations', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 7 }),
        ttl: fc.integer({ min: 1, max: 20 }),
      }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('tick' as const), by: fc.integer({ min: 1, max: 10 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
        const map = new ExpiringMap<number, number>(max);
        const model: { key: number; value: number; untilMs: number }[] = [];
        let now = 0;
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'tick') now += o.by;
          else if (o.kind === 'set') {
            const value = next++;
            const at = model.findIndex((e) => e.key === o.key);
            if (at >= 0) model.splice(at, 1);
            else if (model.length >= max) model.shift();
            model.push({ key: o.key, value, untilMs: now + o.ttl });
            map.set(o.key, value, now + o.ttl);
          } else {
            const at = model.findIndex((e) => e.key === o.key);
            let expected: number | undefined;
            if (at >= 0) {
              if (model[at]!.untilMs > now) expected = model[at]!.value;
              else model.splice(at, 1);
            }
            expect(map.get(o.key, now)).toBe(expected);
          }
          expect(map.size).toBe(model.length);
          expect(map.size).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});
