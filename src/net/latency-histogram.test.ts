import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from './latency-histogram.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** The same observations through prom-client's Histogram and through LatencyHistogram. */
async function bothTexts(observations: [Record<string, string>, number][]): Promise<[string, string]> {
  const reference = new Registry();
  const histogram = new Histogram({
    name: 'lat_seconds',
    help: 'latency',
    labelNames: ['group', 'target'],
    buckets: BUCKETS,
    registers: [reference],
  });
  const mine = new Registry();
  const latency = new LatencyHistogram(mine, { name: 'lat_seconds', help: 'latency', buckets: BUCKETS });
  for (const [labels, value] of observations) {
    histogram.observe(labels, value);
    latency.series(labels).observe(value);
  }
  return [await reference.metrics(), await mine.metrics()];
}

describe('LatencyHistogram', () => {
  it('exports what prom-client’s Histogram exports for the same observations', async () => {
    const a = { group: 'api', target: '10.0.0.5:8080' };
    const b = { group: 'api', target: '10.0.0.6:8080' };
    const [reference, mine] = await bothTexts([
      [a, 0.0004],
      [a, 0.001],
      [a, 0.05],
      [b, 2.5],
      [a, 0.3],
      [b, 0.002],
    ]);
    expect(mine).toBe(reference);
    expect(mine).toContain('lat_seconds_bucket{le="0.01",group="api",target="10.0.0.5:8080"} 2');
    expect(mine).toContain('lat_seconds_count{group="api",target="10.0.0.6:8080"} 2');
  });

  it('exports nothing for a series that never observed, and forgets removed and reset ones', async () => {
    const registry = new Registry();
    const latency = new LatencyHistogram(registry, {
      name: 'lat_seconds',
      help: 'latency',
      buckets: BUCKETS,
    });
    const idle = latency.series({ group: 'g', target: 'idle' });
    const busy = latency.series({ group: 'g', target: 'busy' });
    expect(latency.series({ group: 'g', target: 'busy' })).toBe(busy);
    busy.observe(0.02);
    idle.observe(Number.NaN);
    let text = await registry.metrics();
    expect(text).toContain('lat_seconds_count{group="g",target="busy"} 1');
    expect(text).toContain('lat_seconds_sum{group="g",target="busy"} 0.02');
    expect(text).not.toContain('target="idle"');
    latency.remove({ target: 'busy', group: 'g' });
    text = await registry.metrics();
    expect(text).not.toContain('target="busy"');
    const again = latency.series({ group: 'g', target: 'again' });
    again.observe(0.5);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('target="again"');
    again.observe(0.5);
    expect(await registry.metrics()).toContain('lat_seconds_count{group="g",target="again"} 1');
  });
});
