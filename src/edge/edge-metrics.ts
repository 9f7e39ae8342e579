/**
 * Prometheus metrics of the edge, per upstream target (`group`, `target` labels), in the platform's
 * registry (`src/core/metrics.ts`):
 *
 * | metric | type | what |
 * |---|---|---|
 * | `edge_upstream_requests_total` | counter | tries sent, by `outcome`: the status class (`2xx`…`5xx`) or `connect-failure`, `timeout`, `reset` |
 * | `edge_upstream_errors_total` | counter | failed tries by `kind`: `connect-failure`, `timeout`, `reset`, `5xx`, `body` (response cut after its head) |
 * | `edge_upstream_request_duration_seconds` | histogram | from sending a try to the end of its response (or its failure) |
 * | `edge_upstream_in_flight` | gauge | tries in flight (streams and WebSockets count until they end) |
 * | `edge_upstream_healthy` | gauge | 1 when the active health check says up (or there is none), else 0 |
 * | `edge_upstream_available` | gauge | 1 when the balancer may pick it (healthy, not ejected, breaker not open) |
 * | `edge_upstream_weight_factor` | gauge | the slow-start share of its weight, 0–1 |
 * | `edge_upstream_ejections_total` | counter | passive outlier ejections |
 * | `edge_upstream_retries_total` | counter | retries sent to it (tries after the first of a request) |
 * | `edge_upstream_circuit_state` | gauge | 0 closed, 1 half-open, 2 open |
 *
 * The hot path only bumps plain fields of a `TargetStats` and counts its latency in the target's
 * own histogram series (`LatencyHistogram`: plain counters, no label lookup per observation);
 * counters and gauges are read from those fields when Prometheus scrapes.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_S } from '../core/metrics.js';
import { type HistogramSeries, LatencyHistogram } from '../net/latency-histogram.js';

export type TryOutcomeLabel = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'connect-failure' | 'timeout' | 'reset';
export type ErrorKind = 'connect-failure' | 'timeout' | 'reset' | '5xx' | 'body';

const OUTCOMES: readonly TryOutcomeLabel[] = [
  '1xx',
  '2xx',
  '3xx',
  '4xx',
  '5xx',
  'connect-failure',
  'timeout',
  'reset',
];
const ERROR_KINDS: readonly ErrorKind[] = ['connect-failure', 'timeout', 'reset', '5xx', 'body'];

/** Counters of one target, bumped by the proxy. */
export class TargetStats {
  readonly outcomes: Record<TryOutcomeLabel, number> = {
    '1xx': 0,
    '2xx': 0,
    '3xx': 0,
    '4xx': 0,
    '5xx': 0,
    'connect-failure': 0,
    timeout: 0,
    reset: 0,
  };
  readonly errors: Record<ErrorKind, number> = {
    'connect-failure': 0,
    timeout: 0,
    reset: 0,
    '5xx': 0,
    body: 0,
  };
  inFlight = 0;
  retries = 0;
  ejections = 0;
  readonly #latency: HistogramSeries;

  constructor(latency: HistogramSeries) {
    this.#latency = latency;
  }

  /** Records a response status of a try (its class). */
  status(status: number): void {
    const cls =
      status >= 500 ? '5xx' : status >= 400 ? '4xx' : status >= 300 ? '3xx' : status >= 200 ? '2xx' : '1xx';
    this.outcomes[cls]++;
    if (cls === '5xx') this.errors['5xx']++;
  }

  /** Records a try that failed before a response head. */
  failure(kind: 'connect-failure' | 'timeout' | 'reset'): void {
    this.outcomes[kind]++;
    this.errors[kind]++;
  }

  observe(latencyMs: number): void {
    this.#latency.observe(latencyMs / 1_000);
  }
}

/** What the scrape reads of each target, beyond its `TargetStats`. */
export interface TargetGaugeState {
  readonly group: string;
  readonly target: string;
  readonly stats: TargetStats;
  readonly healthy: boolean;
  readonly available: boolean;
  readonly weightFactor: number;
  readonly circuit: 'closed' | 'half-open' | 'open';
}

const CIRCUIT = { closed: 0, 'half-open': 1, open: 2 } as const;

export class EdgeMetrics {
  readonly #duration: LatencyHistogram;
  readonly #targets: () => Iterable<TargetGaugeState>;

  /** `targets` lists every target (draining ones included) at scrape time. */
  constructor(registry: Registry, targets: () => Iterable<TargetGaugeState>) {
    this.#targets = targets;
    const registers = [registry];
    const labelNames = ['group', 'target'] as const;
    this.#duration = new LatencyHistogram(registry, {
      name: 'edge_upstream_request_duration_seconds',
      help: 'Upstream try duration, from sending the request to the end of the response or the failure.',
      buckets: LATENCY_BUCKETS_S,
    });
    const each = this.#targets;
    new Counter({
      name: 'edge_upstream_requests_total',
      help: 'Upstream tries by outcome: response status class, or connect-failure, timeout, reset.',
      labelNames: ['group', 'target', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const t of each()) {
          for (const outcome of OUTCOMES) {
            const n = t.stats.outcomes[outcome];
            if (n > 0) this.inc({ group: t.group, target: t.target, outcome }, n);
          }
        }
      },
    });
    new Counter({
      name: 'edge_upstream_errors_total',
      help: 'Failed upstream tries by kind (connect-failure, timeout, reset, 5xx, body).',
      labelNames: ['group', 'target', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const t of each()) {
          for (const kind of ERROR_KINDS) {
            const n = t.stats.errors[kind];
            if (n > 0) this.inc({ group: t.group, target: t.target, kind }, n);
          }
        }
      },
    });
    const counter = (name: string, help: string, read: (t: TargetGaugeState) => number) =>
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const t of each()) this.inc({ group: t.group, target: t.target }, read(t));
        },
      });
    const gauge = (name: string, help: string, read: (t: TargetGaugeState) => number) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const t of each()) this.set({ group: t.group, target: t.target }, read(t));
        },
      });
    counter(
      'edge_upstream_ejections_total',
      'Passive outlier ejections of the target.',
      (t) => t.stats.ejections,
    );
    counter('edge_upstream_retries_total', 'Retries sent to the target.', (t) => t.stats.retries);
    gauge('edge_upstream_in_flight', 'Tries in flight to the target.', (t) => t.stats.inFlight);
    gauge('edge_upstream_healthy', 'Active health check state: 1 up (or no check), 0 down.', (t) =>
      t.healthy ? 1 : 0,
    );
    gauge('edge_upstream_available', '1 when the balancer may pick the target.', (t) =>
      t.available ? 1 : 0,
    );
    gauge('edge_upstream_weight_factor', 'Slow-start share of the weight (0–1).', (t) => t.weightFactor);
    gauge(
      'edge_upstream_circuit_state',
      'Circuit breaker: 0 closed, 1 half-open, 2 open.',
      (t) => CIRCUIT[t.circuit],
    );
  }

  /** Counters for one target; its histogram series is bound once here. */
  stats(group: string, target: string): TargetStats {
    return new TargetStats(this.#duration.series({ group, target }));
  }

  /** Drops a removed target's histogram series (the scraped counters disappear with it). */
  forget(group: string, target: string): void {
    this.#duration.remove({ group, target });
  }
}
