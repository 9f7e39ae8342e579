import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { PeakEwma } from './peak-ewma.js';
import { seededRandom } from './weighted-sampler.js';

const t = (id: string): Target => ({ id, address: id, weight: 1 });

/** A fake clock and a loop of sequential requests whose latency depends on the target. */
function harness(options: { selection?: 'least' | 'p2c'; decayMs?: number } = {}) {
  let nowMs = 1_000;
  const targets = [t('fast'), t('slow')];
  const lb = new PeakEwma({ targets, now: () => nowMs, random: seededRandom(11), ...options });
  const latency: Record<string, number> = { fast: 10, slow: 100 };
  const run = (requests: number, gapMs = 5) => {
    const counts: Record<string, number> = { fast: 0, slow: 0 };
    for (let i = 0; i < requests; i++) {
      nowMs += gapMs;
      const picked = lb.pick()!;
      counts[picked.id]!++;
      lb.onStart(picked);
      lb.onEnd(picked, { latencyMs: latency[picked.id]!, ok: true });
    }
    return counts;
  };
  return { lb, latency, run, advance: (ms: number) => (nowMs += ms), targets };
}

describe('peak EWMA (least response time)', () => {
  it('prefers the faster target', () => {
    const { run } = harness();
    const counts = run(2_000);
    expect(counts.fast).toBeGreaterThan(0.95 * 2_000);
    expect(counts.slow).toBeGreaterThan(0); // tried once at the start, when it had no data
  });

  it('recovers: once the slow target speeds up, it is probed and wins back traffic', () => {
    const { run, latency } = harness();
    run(2_000);
    latency.slow = 2;
    run(12_000); // 60 s of traffic: several τ (10 s) for the old estimate to fade and be probed
    const after = run(2_000);
    expect(after.slow!).toBeGreaterThan(after.fast!);
  });

  it('with selection p2c, it also prefers the faster target', () => {
    const { run } = harness({ selection: 'p2c' });
    const counts = run(2_000);
    expect(counts.fast).toBeGreaterThan(0.9 * 2_000);
  });

  it('a target without data is tried first, then penalised while its first request is outstanding', () => {
    let nowMs = 0;
    const [old, fresh] = [t('old'), t('new')];
    const lb = new PeakEwma({ targets: [old], now: () => nowMs });
    lb.onStart(old);
    lb.onEnd(old, { latencyMs: 500, ok: true }); // old is slow
    lb.setTargets([old, fresh]);
    expect(lb.pick()).toBe(fresh); // cost 0: no data yet
    lb.onStart(fresh);
    expect(lb.cost('new')).toBeGreaterThan(1e12);
    for (let i = 0; i < 5; i++) expect(lb.pick()).toBe(old); // not a second request before an answer
    nowMs += 10;
    lb.onEnd(fresh, { latencyMs: 20, ok: true });
    expect(lb.cost('new')).toBe(20);
    expect(lb.pick()).toBe(fresh);
  });

  it('cost = estimate × (in flight + 1): equal latencies, the less busy target wins', () => {
    const nowMs = 0;
    const [a, b] = [t('a'), t('b')];
    const lb = new PeakEwma({ targets: [a, b], now: () => nowMs });
    for (const target of [a, b]) {
      lb.onStart(target);
      lb.onEnd(target, { latencyMs: 10, ok: true });
    }
    lb.onStart(a);
    lb.onStart(a);
    expect(lb.cost('a')).toBe(30);
    expect(lb.cost('b')).toBe(10);
    expect(lb.pick()).toBe(b);
  });

  it('a peak replaces the estimate at once; lower samples blend in by elapsed time; reads decay by τ', () => {
    let nowMs = 0;
    const a = t('a');
    const lb = new PeakEwma({ targets: [a], now: () => nowMs, decayMs: 1_000 });
    const sample = (latencyMs: number) => {
      lb.onStart(a);
      lb.onEnd(a, { latencyMs, ok: true });
    };
    sample(10);
    sample(400); // a spike is believed immediately
    expect(lb.cost('a')).toBe(400);
    nowMs += 1_000; // one τ later, unread and unsampled: the read decays toward 0
    expect(lb.cost('a')).toBeCloseTo(400 * Math.exp(-1), 6);
    sample(10); // weight of the new sample: 1 − e^(−Δt/τ) = 1 − e^−1
    expect(lb.cost('a')).toBeCloseTo(400 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 6);
  });

  it('a failure counts as at least failureLatencyMs, so a target failing fast does not look fast', () => {
    const nowMs = 0;
    const [a, b] = [t('a'), t('b')];
    const lb = new PeakEwma({ targets: [a, b], now: () => nowMs });
    lb.onStart(a);
    lb.onEnd(a, { latencyMs: 1, ok: false });
    lb.onStart(b);
    lb.onEnd(b, { latencyMs: 50, ok: true });
    expect(lb.cost('a')).toBe(1_000);
    expect(lb.pick()).toBe(b);
    const lenient = new PeakEwma({ targets: [a], now: () => nowMs, failureLatencyMs: 0 });
    lenient.onStart(a);
    lenient.onEnd(a, { latencyMs: 1, ok: false });
    expect(lenient.cost('a')).toBe(1);
  });

  it('refuses a non-positive decay', () => {
    expect(() => new PeakEwma({ decayMs: 0 })).toThrow(
      expect.objectContaining({ code: 'EDGE_ERR_INVALID_BALANCER' }),
    );
  });
});
