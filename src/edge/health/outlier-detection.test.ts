import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { OutlierDetector, type OutlierDetectorOptions, type OutlierEvent } from './outlier-detection.js';
import {
  CONNECT_FAILURE,
  RESET,
  responseOutcome,
  TIMEOUT,
  type UpstreamOutcome,
} from './upstream-outcome.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);

function setup(options: OutlierDetectorOptions = {}, targets = ids(4)) {
  const clock = { now: 50_000 };
  const events: OutlierEvent[] = [];
  const detector = new OutlierDetector({
    clock: () => clock.now,
    onEvent: (e) => events.push(e),
    ...options,
  });
  detector.setTargets(targets);
  const record = (id: string, outcome: UpstreamOutcome, times = 1) => {
    for (let i = 0; i < times; i++) detector.record(id, outcome);
  };
  return { clock, events, detector, record };
}

const s500 = responseOutcome(500);
const s502 = responseOutcome(502);
const s200 = responseOutcome(200);
const s404 = responseOutcome(404);
const s503 = () => responseOutcome(503);

describe('OutlierDetector: ejection', () => {
  it('ejects after consecutive 5xx for baseEjectionMs, then lets the target back', () => {
    const { detector, record, events, clock } = setup({
      consecutive5xx: 5,
      baseEjectionMs: 10_000,
      maxEjectionPercent: 50,
    });
    record('t0', s500, 4);
    record('t0', s404); // a non-5xx answer restarts the count
    record('t0', s502, 4);
    expect(detector.isEjected('t0')).toBe(false);
    record('t0', s500);
    expect(detector.isEjected('t0')).toBe(true);
    expect(events).toEqual([
      {
        type: 'ejected',
        target: 't0',
        reason: 'consecutive-5xx',
        atMs: clock.now,
        durationMs: 10_000,
        multiplier: 1,
      },
    ]);
    const ejectedAt = clock.now;
    record('t0', s200); // in-flight results of an ejected target are ignored
    expect(detector.status('t0')!.consecutive5xx).toBe(5);
    clock.now = ejectedAt + 9_999;
    expect(detector.ejected()).toEqual(['t0']);
    clock.now = ejectedAt + 10_000;
    expect(detector.isEjected('t0')).toBe(false);
    expect(events.at(-1)).toEqual({ type: 'unejected', target: 't0', atMs: ejectedAt + 10_000 });
    expect(detector.status('t0')).toMatchObject({ consecutive5xx: 0, ejections: 1 });
    expect(detector.counters).toEqual({ ejections: 1, unejections: 1, overflows: 0 });
  });

  it('ejects after consecutive local-origin failures; any response resets that count but a 5xx keeps the 5xx count', () => {
    const { detector, record, events } = setup({
      consecutive5xx: 5,
      consecutiveLocalOriginFailures: 3,
      maxEjectionPercent: 50,
    });
    record('t1', CONNECT_FAILURE);
    record('t1', TIMEOUT);
    record('t1', s503());
    expect(detector.status('t1')).toMatchObject({ consecutiveLocalOriginFailures: 0, consecutive5xx: 3 });
    record('t1', RESET);
    record('t1', CONNECT_FAILURE);
    expect(detector.isEjected('t1')).toBe(true); // the 5th server failure in a row (5xx rule)
    expect(events[0]).toMatchObject({ type: 'ejected', reason: 'consecutive-5xx' });

    record('t2', CONNECT_FAILURE, 3);
    expect(detector.isEjected('t2')).toBe(true);
    expect(events[1]).toMatchObject({
      type: 'ejected',
      target: 't2',
      reason: 'consecutive-local-origin-failures',
    });
  });

  it('a threshold of 0 disables that rule', () => {
    const { detector, record } = setup({
      consecutive5xx: 0,
      consecutiveLocalOriginFailures: 2,
      maxEjectionPercent: 50,
    });
    record('t0', s500, 50);
    expect(detector.isEjected('t0')).toBe(false);
    record('t0', CONNECT_FAILURE, 2);
    expect(detector.isEjected('t0')).toBe(true);
  });

  it('ejection time grows with each ejection (base × n), is capped, and decays while in service', () => {
    const { record, events, clock } = setup({
      consecutive5xx: 1,
      baseEjectionMs: 1_000,
      maxEjectionMs: 3_500,
      decayIntervalMs: 10_000,
      maxEjectionPercent: 50,
    });
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      record('t0', s500);
      const ejected = events.at(-1)!;
      expect(ejected.type).toBe('ejected');
      if (ejected.type === 'ejected') {
        durations.push(ejected.durationMs);
        clock.now += ejected.durationMs; // back in service, and failing again at once
      }
    }
    expect(durations).toEqual([1_000, 2_000, 3_000, 3_500, 3_500]);
    // 20 s in service take two off the multiplier (4 → 2): the next ejection is 3 × base.
    clock.now += 20_000;
    record('t0', s500);
    expect(events.at(-1)).toMatchObject({ type: 'ejected', durationMs: 3_000, multiplier: 3 });
  });

  it('uneject() brings a target back at once', () => {
    const { detector, record, events } = setup({ consecutive5xx: 1, maxEjectionPercent: 50 });
    record('t3', s500);
    expect(detector.uneject('t3')).toBe(true);
    expect(detector.isEjected('t3')).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'unejected', target: 't3' });
    expect(detector.uneject('t3')).toBe(false);
    expect(detector.uneject('nope')).toBe(false);
  });
});

describe('OutlierDetector: max ejection percent', () => {
  it('computes the cap: at least one, at most n − 1, never for a single target', () => {
    const cases: [percent: number, n: number, cap: number][] = [
      [10, 1, 0],
      [100, 1, 0],
      [10, 2, 1],
      [100, 2, 1],
      [10, 3, 1],
      [100, 3, 2],
      [10, 20, 2],
      [30, 10, 3],
      [0, 10, 0],
    ];
    for (const [percent, n, cap] of cases) {
      expect(new OutlierDetector({ maxEjectionPercent: percent }).maxEjected(n), `${percent}% of ${n}`).toBe(
        cap,
      );
    }
  });

  it('stops at the cap with an overflow event; the overflowed target is ejected once a slot frees', () => {
    const { detector, record, events, clock } = setup(
      { consecutive5xx: 2, maxEjectionPercent: 30, baseEjectionMs: 5_000 },
      ids(10),
    );
    for (const id of ['t0', 't1', 't2']) record(id, s500, 2);
    expect(detector.ejected()).toEqual(['t0', 't1', 't2']);
    record('t3', s500, 2);
    expect(detector.isEjected('t3')).toBe(false);
    expect(events.at(-1)).toEqual({
      type: 'ejection-overflow',
      target: 't3',
      reason: 'consecutive-5xx',
      atMs: clock.now,
    });
    clock.now += 5_000; // t0–t2 come back
    record('t3', s500);
    expect(detector.ejected()).toEqual(['t3']);
    expect(detector.counters.overflows).toBe(1);
  });

  it('when every target fails, one always stays in; a lone target is never ejected', () => {
    const { detector, record } = setup({ consecutive5xx: 1, maxEjectionPercent: 100 }, ids(3));
    for (const id of ids(3)) record(id, CONNECT_FAILURE, 5);
    expect(detector.ejected()).toHaveLength(2);
    const lone = setup({ consecutive5xx: 1, maxEjectionPercent: 100 }, ['only']);
    lone.record('only', s500, 10);
    expect(lone.detector.isEjected('only')).toBe(false);
  });

  it('setTargets keeps known targets, forgets removed ones and frees their ejection slot', () => {
    const { detector, record } = setup({ consecutive5xx: 1, maxEjectionPercent: 10 }, ids(4));
    record('t0', s500);
    record('t1', s500);
    expect(detector.ejected()).toEqual(['t0']);
    detector.setTargets(['t1', 't2', 't3', 't4']);
    expect(detector.targets).toEqual(['t1', 't2', 't3', 't4']);
    expect(detector.status('t0')).toBeUndefined();
    expect(detector.status('t1')!.consecutive5xx).toBe(1);
    record('t1', s500);
    expect(detector.ejected()).toEqual(['t1']);
    detector.record('unknown', s500); // ignored
    expect(detector.ejected()).toEqual(['t1']);
  });

  it('never ejects more than the cap, whatever the outcomes and timing', () => {
    const outcome = fc.constantFrom(s200, s404, s500, s502, CONNECT_FAILURE, TIMEOUT, RESET);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 100 }),
        fc.array(fc.tuple(fc.nat({ max: 7 }), outcome, fc.nat({ max: 3_000 })), { maxLength: 300 }),
        (n, percent, steps) => {
          const { detector, events, clock } = setup(
            {
              consecutive5xx: 2,
              consecutiveLocalOriginFailures: 1,
              maxEjectionPercent: percent,
              baseEjectionMs: 1_000,
            },
            ids(n),
          );
          const cap = detector.maxEjected(n);
          for (const [target, result, gapMs] of steps) {
            clock.now += gapMs;
            detector.record(`t${target % n}`, result);
            const ejected = detector.ejected();
            expect(ejected.length).toBeLessThanOrEqual(cap);
            expect(ejected.length).toBeLessThan(n);
          }
          const ejections = events.filter((e) => e.type === 'ejected').length;
          const unejections = events.filter((e) => e.type === 'unejected').length;
          expect(ejections - unejections).toBe(detector.ejected().length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('OutlierDetector: options', () => {
  it('rejects invalid options', () => {
    for (const options of [
      { maxEjectionPercent: 101 },
      { consecutive5xx: 2.5 },
      { baseEjectionMs: 0 },
      { baseEjectionMs: 10_000, maxEjectionMs: 1_000 },
    ]) {
      expect(() => new OutlierDetector(options), JSON.stringify(options)).toThrow(GroundworkError);
    }
  });
});
