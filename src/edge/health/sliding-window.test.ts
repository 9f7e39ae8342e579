import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlidingWindowCounter } from './sliding-window.js';

describe('SlidingWindowCounter', () => {
  it('totals exactly the events of the current bucket and the buckets − 1 before it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.tuple(fc.nat({ max: 300 }), fc.nat({ max: 1 }), fc.integer({ min: 1, max: 3 })), {
          maxLength: 300,
        }),
        (buckets, bucketMs, steps) => {
          const window = new SlidingWindowCounter(buckets * bucketMs, buckets, 2);
          const events: { bucket: number; field: number; n: number }[] = [];
          let now = 7;
          for (const [gap, field, n] of steps) {
            now += gap;
            window.add(now, field, n);
            events.push({ bucket: Math.floor(now / bucketMs), field, n });
            const current = Math.floor(now / bucketMs);
            for (const f of [0, 1]) {
              const expected = events
                .filter((e) => e.field === f && e.bucket > current - buckets)
                .reduce((sum, e) => sum + e.n, 0);
              expect(window.total(now, f)).toBe(expected);
            }
          }
        },
      ),
    );
  });

  it('a clock stepping back counts into the newest bucket and forgets nothing early', () => {
    const window = new SlidingWindowCounter(1_000, 10, 1);
    window.add(5_000, 0);
    window.add(4_000, 0); // NTP step back: still counted
    expect(window.total(4_500, 0)).toBe(2);
    expect(window.total(5_999, 0)).toBe(2);
    expect(window.total(6_000, 0)).toBe(0);
  });
});
