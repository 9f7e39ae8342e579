import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import {
  ActiveHealthChecker,
  type ActiveHealthCheckerOptions,
  type HealthTransition,
  type ProbeResult,
} from './active-health-checker.js';
import { ManualScheduler } from './scheduler.js';

/** What a scripted probe does: pass, fail (reject), answer false, hang until aborted, or pass late. */
type Step = 'ok' | 'fail' | 'false' | 'throw' | 'hang' | { passAfterMs: number };

function setup(script: Record<string, Step[]>, options: Partial<ActiveHealthCheckerOptions<string>> = {}) {
  const time = new ManualScheduler(0);
  const transitions: HealthTransition<string>[] = [];
  const probes: ProbeResult[] = [];
  const started: { id: string; atMs: number; signal: AbortSignal }[] = [];
  const lateResolvers: (() => void)[] = [];
  let running = 0;
  let maxRunning = 0;
  const checker = new ActiveHealthChecker<string>({
    intervalMs: 1_000,
    timeoutMs: 300,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    jitter: 0,
    scheduler: time,
    onTransition: (t) => transitions.push(t),
    onProbe: (p) => probes.push(p),
    probe: (id, signal) => {
      started.push({ id, atMs: time.now(), signal });
      const step = script[id]!.shift() ?? 'ok';
      if (step === 'throw') throw new Error('synchronous probe bug');
      running++;
      maxRunning = Math.max(maxRunning, running);
      const done = <T>(p: Promise<T>) => p.finally(() => running--);
      if (step === 'ok') return done(Promise.resolve(200));
      if (step === 'false') return done(Promise.resolve(false));
      if (step === 'fail') return done(Promise.reject(new Error('ECONNREFUSED')));
      if (step === 'hang') {
        // Ignores the abort signal on purpose: a late answer must still be ignored.
        return done(new Promise<void>((resolve) => lateResolvers.push(resolve)));
      }
      return done(new Promise<void>((resolve) => time.setTimeout(resolve, step.passAfterMs)));
    },
    ...options,
  });
  return {
    time,
    transitions,
    probes,
    started,
    lateResolvers,
    checker,
    maxRunning: () => maxRunning,
  };
}

describe('ActiveHealthChecker: thresholds', () => {
  it('goes down only after unhealthyThreshold failures in a row and up after healthyThreshold successes', async () => {
    const { checker, time, transitions } = setup({
      a: ['fail', 'fail', 'ok', 'fail', 'false', 'fail', 'ok', 'fail', 'ok', 'ok', 'ok'],
    });
    checker.add('a', 'a');
    expect(checker.isHealthy('a')).toBe(true); // initial state
    await time.advance(0); // probe 1 at t=0, then every 1 000 ms
    await time.advance(4_000); // probes 2–5: fail, ok, fail, false
    expect(checker.isHealthy('a')).toBe(true);
    await time.advance(1_000); // probe 6: the third failure in a row
    expect(checker.isHealthy('a')).toBe(false);
    expect(transitions).toEqual([
      expect.objectContaining({
        id: 'a',
        healthy: false,
        atMs: 5_000,
        timedOut: false,
        error: expect.any(Error),
      }),
    ]);
    await time.advance(3_000); // ok, fail, ok
    expect(checker.isHealthy('a')).toBe(false);
    await time.advance(1_000); // ok: the second success in a row
    expect(checker.isHealthy('a')).toBe(true);
    expect(transitions.map((t) => [t.healthy, t.atMs])).toEqual([
      [false, 5_000],
      [true, 9_000],
    ]);
    expect(checker.status('a')).toMatchObject({
      probes: 10,
      failures: 6,
      consecutiveSuccesses: 2,
      timeouts: 0,
    });
  });

  it('a target added as unhealthy needs healthyThreshold successes; probes it at unhealthyIntervalMs while down', async () => {
    const { checker, time, started, transitions } = setup(
      { b: ['fail', 'ok', 'ok'] },
      { initialState: 'unhealthy', unhealthyIntervalMs: 200 },
    );
    checker.add('b', 'b');
    expect(checker.isHealthy('b')).toBe(false);
    await time.advance(400);
    expect(checker.isHealthy('b')).toBe(true);
    expect(transitions).toEqual([{ id: 'b', target: 'b', healthy: true, atMs: 400, timedOut: false }]);
    await time.advance(1_000);
    expect(started.map((s) => s.atMs)).toEqual([0, 200, 400, 1_400]);
  });

  it('a probe that throws synchronously or answers false fails', async () => {
    const { checker, time, probes } = setup({ c: ['throw', 'false', 'fail'] }, { unhealthyThreshold: 3 });
    checker.add('c', 'c');
    await time.advance(2_000);
    expect(probes.map((p) => p.ok)).toEqual([false, false, false]);
    expect(checker.isHealthy('c')).toBe(false);
    expect(String(checker.status('c')!.lastError)).toContain('ECONNREFUSED');
  });
});

describe('ActiveHealthChecker: timeouts and scheduling', () => {
  it('a probe outliving timeoutMs fails, its signal is aborted, and its late answer is ignored', async () => {
    const { checker, time, started, probes, lateResolvers, transitions } = setup(
      { d: ['hang', 'hang', 'hang', 'ok'] },
      { unhealthyThreshold: 3 },
    );
    checker.add('d', 'd');
    await time.advance(299);
    expect(probes).toEqual([]);
    expect(started[0]!.signal.aborted).toBe(false);
    await time.advance(1);
    expect(started[0]!.signal.aborted).toBe(true);
    expect(probes).toEqual([
      { id: 'd', ok: false, timedOut: true, durationMs: 300, error: expect.any(Error) },
    ]);
    lateResolvers[0]!(); // the hung probe answers after all: too late
    await time.advance(0);
    expect(checker.status('d')).toMatchObject({ probes: 1, consecutiveFailures: 1, timeouts: 1 });
    // Next probe starts an interval after the previous one ended (at 300 ms).
    await time.advance(2 * 1_300);
    expect(started.map((s) => s.atMs)).toEqual([0, 1_300, 2_600]);
    expect(transitions).toEqual([expect.objectContaining({ healthy: false, timedOut: true, atMs: 2_900 })]);
  });

  it('probes of one target never overlap, even when they run longer than the interval', async () => {
    const { checker, time, maxRunning, started } = setup(
      { e: [{ passAfterMs: 250 }, { passAfterMs: 250 }, { passAfterMs: 250 }] },
      { intervalMs: 100, timeoutMs: 1_000 },
    );
    checker.add('e', 'e');
    await time.advance(1_000);
    expect(maxRunning()).toBe(1);
    expect(started.slice(0, 3).map((s) => s.atMs)).toEqual([0, 350, 700]);
  });

  it('jitter spreads the first probe within jitter × interval and later ones within interval × (1 ± jitter)', async () => {
    const draws = [0.9, 0, 1 - 1e-9, 0.5, 0.25];
    let i = 0;
    const { checker, time, started } = setup(
      { f: [] },
      { jitter: 0.2, intervalMs: 1_000, random: () => draws[i++ % draws.length]! },
    );
    checker.add('f', 'f');
    await time.advance(5_000);
    const at = started.map((s) => s.atMs);
    expect(at[0]).toBeCloseTo(180, 6); // 0.9 × 0.2 × 1 000
    const gaps = at.slice(1).map((t, k) => t - at[k]!);
    expect(gaps[0]).toBeCloseTo(800, 6); // 1 000 × (1 + 0.2 × (2 × 0 − 1))
    expect(gaps[1]).toBeCloseTo(1_200, 3);
    expect(gaps[2]).toBeCloseTo(1_000, 6);
    expect(gaps[3]).toBeCloseTo(900, 6);
  });

  it('stop() cancels every timer, aborts probes in flight and reports nothing afterwards', async () => {
    const { checker, time, started, lateResolvers, probes, transitions } = setup({
      g: ['hang'],
      h: ['ok', 'ok'],
    });
    checker.add('g', 'g');
    checker.add('h', 'h');
    await time.advance(50);
    expect(time.pendingTimers).toBe(2); // g's timeout, h's next probe
    checker.stop();
    expect(time.pendingTimers).toBe(0);
    expect(started.find((s) => s.id === 'g')!.signal.aborted).toBe(true);
    lateResolvers[0]!();
    await time.advance(10_000);
    expect(probes.map((p) => p.id)).toEqual(['h']);
    expect(transitions).toEqual([]);
    expect(checker.size).toBe(0);
    expect(() => checker.add('i', 'i')).toThrow(/after stop/);
  });

  it('remove() stops one target only', async () => {
    const { checker, time, started } = setup({ j: [], k: [] });
    checker.add('j', 'j');
    checker.add('k', 'k');
    await time.advance(0);
    expect(checker.remove('j')).toBe(true);
    expect(checker.remove('j')).toBe(false);
    await time.advance(3_000);
    expect(started.filter((s) => s.id === 'j')).toHaveLength(1);
    expect(started.filter((s) => s.id === 'k')).toHaveLength(4);
    expect(checker.isHealthy('j')).toBe(false);
    expect(checker.healthy()).toEqual(['k']);
  });

  it('rejects invalid options', () => {
    const probe = async () => true;
    for (const options of [
      { intervalMs: 0 },
      { healthyThreshold: 0 },
      { unhealthyThreshold: 1.5 },
      { jitter: 1.5 },
      { timeoutMs: -1 },
    ]) {
      expect(() => new ActiveHealthChecker({ probe, ...options }), JSON.stringify(options)).toThrow(
        GroundworkError,
      );
    }
  });
});
