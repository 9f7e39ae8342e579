/**
 * The bus's Prometheus metrics, labelled by driver. Several buses may share one registry (each
 * metric is created once per registry and reused), so tests and multi-bus processes never hit
 * prom-client's "already registered" error.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

export type DropReason = 'malformed' | 'duplicate';

export interface BusMetrics {
  readonly published: Counter<'driver'>;
  readonly delivered: Counter<'driver'>;
  readonly handlerErrors: Counter<'driver'>;
  readonly reconnects: Counter<'driver'>;
  readonly dropped: Counter<'driver' | 'reason'>;
  readonly deliveryDelay: Histogram<'driver'>;
}

/** From 1 ms to 10 s: loopback pub/sub is sub-millisecond; seconds mean a stalled subscriber. */
const DELAY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

function counter<L extends string>(registry: Registry, name: string, help: string, labels: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter({ name, help, labelNames: labels, registers: [registry] });
}

export function busMetrics(registry: Registry): BusMetrics {
  const delayName = 'bus_delivery_delay_seconds';
  const deliveryDelay =
    (registry.getSingleMetric(delayName) as Histogram<'driver'> | undefined) ??
    new Histogram({
      name: delayName,
      help: 'Time from publish (publisher clock) to receipt (receiver clock), per received message.',
      labelNames: ['driver'],
      buckets: DELAY_BUCKETS_S,
      registers: [registry],
    });
  return {
    published: counter(registry, 'bus_messages_published_total', 'Messages published.', ['driver']),
    delivered: counter(
      registry,
      'bus_messages_delivered_total',
      'Handler invocations (one per message per subscription).',
      ['driver'],
    ),
    handlerErrors: counter(
      registry,
      'bus_handler_errors_total',
      'Handlers that threw or rejected; other handlers still ran.',
      ['driver'],
    ),
    reconnects: counter(
      registry,
      'bus_reconnects_total',
      'Subscription connections re-established (all topics resubscribed).',
      ['driver'],
    ),
    dropped: counter(
      registry,
      'bus_messages_dropped_total',
      'Received payloads not delivered: malformed envelope, or a duplicate of a delivered id.',
      ['driver', 'reason'],
    ),
    deliveryDelay,
  };
}

/** The bus's metrics with the driver label applied once. */
export interface BoundBusMetrics {
  readonly published: { inc(): void };
  readonly delivered: { inc(): void };
  readonly handlerErrors: { inc(): void };
  readonly reconnects: { inc(): void };
  readonly dropped: { inc(labels: { reason: DropReason }): void };
  readonly deliveryDelay: { observe(seconds: number): void };
}

export function boundBusMetrics(registry: Registry, driver: string): BoundBusMetrics {
  const all = busMetrics(registry);
  return {
    published: all.published.labels(driver),
    delivered: all.delivered.labels(driver),
    handlerErrors: all.handlerErrors.labels(driver),
    reconnects: all.reconnects.labels(driver),
    dropped: { inc: ({ reason }) => all.dropped.inc({ driver, reason }) },
    deliveryDelay: all.deliveryDelay.labels(driver),
  };
}
