import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { checkSlowStartOptions, slowStartEndsAt, slowStartFactor, slowStartWeight } from './slow-start.js';

const T0 = 1_700_000_000_000;

describe('slow start', () => {
  it('ramps linearly from minFraction to the full weight over the window', () => {
    const options = { windowMs: 10_000 };
    const at = (ms: number) => slowStartWeight(10, T0, T0 + ms, options);
    expect(at(0)).toBe(1); // min fraction 10 %
    expect(at(500)).toBe(1); // 5 % of the window is below the floor
    expect(at(2_500)).toBe(2.5);
    expect(at(5_000)).toBe(5);
    expect(at(9_999)).toBeCloseTo(9.999, 9);
    expect(at(10_000)).toBe(10);
    expect(at(1_000_000)).toBe(10);
    expect(slowStartEndsAt(T0, options)).toBe(T0 + 10_000);
  });

  it("follows Envoy's aggression curve: time_factor ^ (1 / aggression)", () => {
    const fast = { windowMs: 10_000, aggression: 2, minFraction: 0 };
    const slow = { windowMs: 10_000, aggression: 0.5, minFraction: 0 };
    expect(slowStartFactor(T0, T0 + 2_500, fast)).toBeCloseTo(0.5, 12); // √0.25
    expect(slowStartFactor(T0, T0 + 5_000, slow)).toBeCloseTo(0.25, 12); // 0.5²
    expect(slowStartFactor(T0, T0 + 5_000, fast)).toBeGreaterThan(
      slowStartFactor(T0, T0 + 5_000, { windowMs: 10_000 }),
    );
  });

  it('a clock before the start gives the floor; a window of 0 disables slow start', () => {
    expect(slowStartFactor(T0, T0 - 5_000, { windowMs: 10_000, minFraction: 0.2 })).toBe(0.2);
    expect(slowStartWeight(7, T0, T0, { windowMs: 0 })).toBe(7);
  });

  it('never decreases over time, stays within [minFraction, 1] and reaches 1 at the window end', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120_000 }),
        fc.double({ min: 0.05, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.integer({ min: -10_000, max: 200_000 }), { minLength: 2, maxLength: 30 }),
        (windowMs, aggression, minFraction, offsets) => {
          const options = { windowMs, aggression, minFraction };
          const sorted = [...offsets].sort((a, b) => a - b);
          let previous = 0;
          for (const offset of sorted) {
            const f = slowStartFactor(T0, T0 + offset, options);
            expect(f).toBeGreaterThanOrEqual(previous);
            expect(f).toBeGreaterThanOrEqual(Math.min(minFraction, 1));
            expect(f).toBeLessThanOrEqual(1);
            if (offset >= windowMs) expect(f).toBe(1);
            previous = f;
          }
        },
      ),
    );
  });

  it('validates options', () => {
    expect(checkSlowStartOptions({ windowMs: 30_000, aggression: 1.5, minFraction: 0.1 })).toEqual({
      windowMs: 30_000,
      aggression: 1.5,
      minFraction: 0.1,
    });
    for (const options of [
      { windowMs: -1 },
      { windowMs: 1_000, aggression: 0 },
      { windowMs: 1_000, minFraction: 2 },
    ]) {
      expect(() => checkSlowStartOptions(options), JSON.stringify(options)).toThrow(GroundworkError);
    }
  });
});
