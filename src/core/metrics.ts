import { collectDefaultMetrics, Registry } from 'prom-client';

/** Latency buckets in seconds: sub-millisecond to 10 s, dense where APIs live (1–250 ms). */
export const LATENCY_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * One Prometheus registry per platform instance (tests run several in one process). Blocks
 * register their own metrics on it; `http_request_duration_seconds` belongs to `net/http-app.ts`.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
