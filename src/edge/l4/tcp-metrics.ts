/**
 * The Prometheus metrics of the L4 routes, created once per registry (prom-client refuses a second
 * registration of a name) and shared by every route on it; a route name must be unique per registry.
 * Counters move on the hot path; the gauges and the byte counters of open connections are read from
 * the routes at scrape time (`TcpMetricsSource`), so a long-lived connection (a database session)
 * shows its traffic while it runs, not only when it ends. Metric names:
 *
 * - `edge_tcp_connections_accepted_total{route}`: client connections accepted by the listener.
 * - `edge_tcp_connections_refused_total{route,reason}`: closed without an upstream: `limit` (over
 *   `maxConnections`, queue full), `queue-timeout`, `no-target` (nothing could be connected),
 *   `draining` (queued when the route began to close).
 * - `edge_tcp_connections_closed_total{route,reason}`: proxied connections ended: `done` (both sides
 *   closed normally), `error` (a reset or socket error on either side), `idle-timeout`,
 *   `drain-timeout` (cut at shutdown), `target-removed` (cut when its target's drain timed out).
 * - `edge_tcp_connections_active{route}`, `edge_tcp_connections_queued{route}` (gauges).
 * - `edge_tcp_upstream_connections_total{route,target}`: connections established to a target.
 * - `edge_tcp_upstream_connect_failures_total{route,target,reason}`: `refused`, `timeout`, `error`.
 * - `edge_tcp_upstream_connect_retries_total{route}`: connects tried again on another target.
 * - `edge_tcp_upstream_connect_duration_seconds{route,target}`: time to connect (successes).
 * - `edge_tcp_upstream_connections_active{route,target}` (gauge).
 * - `edge_tcp_received_bytes_total{route,target}`: bytes from clients, forwarded to the target.
 * - `edge_tcp_sent_bytes_total{route,target}`: bytes from the target, forwarded to clients.
 * - `edge_tcp_target_healthy{route,target}`: 1 when the active health check has it up (gauge).
 * - `edge_tcp_target_ejected{route,target}`: 1 while passive outlier detection has it out (gauge).
 * - `edge_tcp_target_ejections_total{route,target}`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_S } from '../../core/metrics.js';

export type RefuseReason = 'limit' | 'queue-timeout' | 'no-target' | 'draining';
export type CloseReason = 'done' | 'error' | 'idle-timeout' | 'drain-timeout' | 'target-removed';
export type ConnectFailureReason = 'refused' | 'timeout' | 'error';

/** What a route reports at scrape time. */
export interface TcpMetricsSource {
  readonly route: string;
  /** Adds the bytes moved by open connections since the last call to the byte counters. */
  flushBytes(): void;
  activeConnections(): number;
  queuedConnections(): number;
  targets(): readonly TcpTargetGauges[];
}

export interface TcpTargetGauges {
  readonly target: string;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly activeConnections: number;
}

export interface TcpMetrics {
  readonly accepted: Counter<'route'>;
  readonly refused: Counter<'route' | 'reason'>;
  readonly closed: Counter<'route' | 'reason'>;
  readonly upstreamConnections: Counter<'route' | 'target'>;
  readonly connectFailures: Counter<'route' | 'target' | 'reason'>;
  readonly connectRetries: Counter<'route'>;
  readonly connectDuration: Histogram<'route' | 'target'>;
  readonly receivedBytes: Counter<'route' | 'target'>;
  readonly sentBytes: Counter<'route' | 'target'>;
  readonly ejections: Counter<'route' | 'target'>;
  /** Registers a route for the scrape-time values; returns the function that unregisters it. */
  addSource(source: TcpMetricsSource): () => void;
}

const byRegistry = new WeakMap<Registry, TcpMetrics>();

/** The L4 metrics on `registry`, created on first use. */
export function tcpMetrics(registry: Registry): TcpMetrics {
  const known = byRegistry.get(registry);
  if (known !== undefined) return known;
  const created = createTcpMetrics(registry);
  byRegistry.set(registry, created);
  return created;
}

function createTcpMetrics(registry: Registry): TcpMetrics {
  const registers = [registry];
  const sources = new Set<TcpMetricsSource>();
  const flush = (): void => {
    for (const source of sources) source.flushBytes();
  };
  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (g: Gauge<string>, source: TcpMetricsSource) => void,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        // Reset first: a closed route or a removed target must not leave a stale series behind.
        this.reset();
        for (const source of sources) fill(this, source);
      },
    });
  };
  gauge(
    'edge_tcp_connections_active',
    'Client connections being served (connecting or open).',
    ['route'],
    (g, s) => g.set({ route: s.route }, s.activeConnections()),
  );
  gauge(
    'edge_tcp_connections_queued',
    'Client connections waiting (unread) for a free slot under maxConnections.',
    ['route'],
    (g, s) => g.set({ route: s.route }, s.queuedConnections()),
  );
  gauge(
    'edge_tcp_upstream_connections_active',
    'Open connections to each target (draining targets included).',
    ['route', 'target'],
    (g, s) => {
      for (const t of s.targets()) g.set({ route: s.route, target: t.target }, t.activeConnections);
    },
  );
  gauge(
    'edge_tcp_target_healthy',
    '1 when the active health check has the target up, else 0.',
    ['route', 'target'],
    (g, s) => {
      for (const t of s.targets()) g.set({ route: s.route, target: t.target }, t.healthy ? 1 : 0);
    },
  );
  gauge(
    'edge_tcp_target_ejected',
    '1 while passive outlier detection keeps the target out, else 0.',
    ['route', 'target'],
    (g, s) => {
      for (const t of s.targets()) g.set({ route: s.route, target: t.target }, t.ejected ? 1 : 0);
    },
  );
  return {
    accepted: new Counter({
      name: 'edge_tcp_connections_accepted_total',
      help: 'Client connections accepted by an L4 route.',
      labelNames: ['route'],
      registers,
    }),
    refused: new Counter({
      name: 'edge_tcp_connections_refused_total',
      help: 'Client connections closed without an upstream: limit, queue-timeout, no-target or draining.',
      labelNames: ['route', 'reason'],
      registers,
    }),
    closed: new Counter({
      name: 'edge_tcp_connections_closed_total',
      help: 'Proxied connections ended: done, error, idle-timeout, drain-timeout or target-removed.',
      labelNames: ['route', 'reason'],
      registers,
    }),
    upstreamConnections: new Counter({
      name: 'edge_tcp_upstream_connections_total',
      help: 'Connections established to each target.',
      labelNames: ['route', 'target'],
      registers,
    }),
    connectFailures: new Counter({
      name: 'edge_tcp_upstream_connect_failures_total',
      help: 'Failed connects to each target: refused, timeout or error.',
      labelNames: ['route', 'target', 'reason'],
      registers,
    }),
    connectRetries: new Counter({
      name: 'edge_tcp_upstream_connect_retries_total',
      help: 'Connects tried again on another target after a failed one.',
      labelNames: ['route'],
      registers,
    }),
    connectDuration: new Histogram({
      name: 'edge_tcp_upstream_connect_duration_seconds',
      help: 'Time to establish a connection to a target (successful connects).',
      labelNames: ['route', 'target'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    }),
    receivedBytes: new Counter({
      name: 'edge_tcp_received_bytes_total',
      help: 'Bytes received from clients and forwarded to each target.',
      labelNames: ['route', 'target'],
      registers,
      collect: flush,
    }),
    sentBytes: new Counter({
      name: 'edge_tcp_sent_bytes_total',
      help: 'Bytes received from each target and forwarded to clients.',
      labelNames: ['route', 'target'],
      registers,
      collect: flush,
    }),
    ejections: new Counter({
      name: 'edge_tcp_target_ejections_total',
      help: 'Times a target was ejected by passive outlier detection.',
      labelNames: ['route', 'target'],
      registers,
    }),
    addSource(source) {
      sources.add(source);
      return () => {
        sources.delete(source);
      };
    },
  };
}
