/**
 * The configuration schema of the edge's L4 (TCP) routes (issue 7 point 6), meant to be mounted as
 * `edge.tcp` in the edge config (`tcp: tcpRoutesSchema`). A route listens on `listen.host:port` and
 * hands each accepted connection, unchanged, to one target of its upstream group, e.g. PostgreSQL
 * read replicas behind one port:
 *
 *     { "name": "pg-replicas", "listen": { "port": 6432 }, "balancer": "least-connections",
 *       "targets": ["127.0.0.1:5433", { "address": "127.0.0.1:5434", "weight": 2 }] }
 *
 * Defaults follow HAProxy's `mode tcp` practice: least connections (the choice for long sessions such
 * as SQL), retries of failed connects on another target (no byte was sent, so it is always safe),
 * active TCP-connect health checks, no PROXY protocol header unless the upstream expects one.
 * Durations are in ms; where 0 has a meaning, the description says it.
 */
import { z } from 'zod';
import { MAX_WEIGHT } from '../balancers/balancer.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/**
 * The algorithms that make sense per connection. `peak-ewma` is left out: it ranks targets by
 * request latency, and a TCP connection's duration says nothing about the target's speed.
 */
export const TCP_BALANCER_NAMES = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'power-of-two-choices',
  'random',
  'ip-hash',
  'consistent-hash',
  'maglev',
] as const;

export type TcpBalancerName = (typeof TCP_BALANCER_NAMES)[number];

/** `host:port`, `[v6]:port`; the host is an IP address or a DNS name (resolved on each connect). */
const ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Splits `host:port` / `[v6]:port` (already validated by the schema). */
export function parseTcpAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const rawHost = address.slice(0, colon);
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  return { host, port: Number(address.slice(colon + 1)) };
}

const addressSchema = z
  .string()
  .regex(ADDRESS, 'must be host:port or [ipv6]:port')
  .refine((value) => {
    const port = parseTcpAddress(value).port;
    return port >= 1 && port <= 65_535;
  }, 'port must be from 1 to 65535');

export const tcpTargetSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { address: value } : value),
  z.strictObject({
    address: addressSchema.describe(
      'Where to connect: host:port or [ipv6]:port. Also the target id in metrics.',
    ),
    weight: int(1, MAX_WEIGHT)
      .default(1)
      .describe('Relative share of connections for the weighted algorithms (1–10000).'),
  }),
);

export const tcpHealthCheckSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe(
      'Probe every target with a TCP connect; a target that fails is not picked until it passes again.',
    ),
  intervalMs: int(1, 3_600_000)
    .default(5_000)
    .describe('Time between the end of one probe and the next, in ms.'),
  unhealthyIntervalMs: int(1, 3_600_000)
    .optional()
    .describe('Time between probes of a target that is down, in ms. Default: intervalMs.'),
  timeoutMs: int(1, 600_000)
    .default(2_000)
    .describe('A probe that has not connected after this many ms fails.'),
  healthyThreshold: int(1, 100).default(2).describe('Passing probes in a row that bring a down target back.'),
  unhealthyThreshold: int(1, 100).default(3).describe('Failing probes in a row that take a target down.'),
});

export const tcpOutlierDetectionSchema = z.strictObject({
  consecutiveConnectFailures: int(0, 1_000)
    .default(3)
    .describe(
      'Failed connects (refused, timed out) in a row that eject a target between health checks; 0 disables passive ejection.',
    ),
  baseEjectionMs: int(1, 86_400_000)
    .default(30_000)
    .describe(
      'First ejection length in ms; each further ejection of the same target lasts one more multiple.',
    ),
  maxEjectionMs: int(1, 86_400_000).default(300_000).describe('Longest ejection in ms.'),
  maxEjectionPercent: int(0, 100)
    .default(50)
    .describe(
      'Most of the group (percent) ejected at once; one target may always be, and the last one never is.',
    ),
});

export const tcpRouteSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, _ and -, starting with a letter')
      .describe('Route name, unique: the `route` label of the edge_tcp_* metrics and of log lines.'),
    listen: z
      .strictObject({
        host: z
          .string()
          .min(1)
          .default('127.0.0.1')
          .describe('Address to accept connections on (:: or 0.0.0.0 for all).'),
        port: int(0, 65_535).describe('Port to accept connections on; 0 picks a free one (tests).'),
      })
      .describe('Where clients connect.'),
    balancer: z
      .enum(TCP_BALANCER_NAMES)
      .default('least-connections')
      .describe(
        'How a target is chosen per connection: least-connections suits long sessions (SQL); ip-hash, consistent-hash and maglev keep a client IP on one target.',
      ),
    targets: z
      .array(tcpTargetSchema)
      .min(1)
      .max(1_000)
      .describe('The upstream group: host:port strings or { address, weight }.'),
    connectTimeoutMs: int(1, 600_000)
      .default(5_000)
      .describe('Time allowed to connect to one target, in ms.'),
    connectTries: int(1, 10)
      .default(3)
      .describe(
        'Targets tried per client connection: a failed connect is retried on another target (nothing was sent yet).',
      ),
    idleTimeoutMs: int(0, 86_400_000)
      .default(3_600_000)
      .describe('A connection with no byte in either direction for this many ms is closed; 0 never closes.'),
    maxConnections: int(0, 1_000_000)
      .default(10_000)
      .describe('Client connections served at once (connecting or open); 0 = no limit.'),
    maxQueued: int(0, 1_000_000)
      .default(0)
      .describe('Connections over maxConnections that wait (unread) for a free slot; 0 closes them at once.'),
    queueTimeoutMs: int(1, 600_000)
      .default(5_000)
      .describe('Longest wait in the queue before the connection is closed, in ms.'),
    drainTimeoutMs: int(0, 3_600_000)
      .default(30_000)
      .describe(
        'On shutdown or target removal, how long open connections may run on before they are cut, in ms; 0 cuts them at once.',
      ),
    healthCheck: tcpHealthCheckSchema.prefault({}).describe('Active health checks by TCP connect.'),
    outlierDetection: tcpOutlierDetectionSchema
      .prefault({})
      .describe('Passive health checking: targets whose connects keep failing are ejected for a while.'),
    proxyProtocol: z
      .enum(['off', 'v1', 'v2'])
      .default('off')
      .describe(
        'Send a PROXY protocol header (v1 text, v2 binary) with the client address before any byte; only for upstreams that expect it.',
      ),
  })
  .refine((route) => route.outlierDetection.maxEjectionMs >= route.outlierDetection.baseEjectionMs, {
    message: 'outlierDetection.maxEjectionMs must be at least baseEjectionMs',
    path: ['outlierDetection', 'maxEjectionMs'],
  })
  .refine((route) => new Set(route.targets.map((t) => t.address)).size === route.targets.length, {
    message: 'a target address appears twice',
    path: ['targets'],
  });

/** `edge.tcp`: the TCP routes, with unique names and unique fixed listen addresses. */
export const tcpRoutesSchema = z
  .array(tcpRouteSchema)
  .default([])
  .superRefine((routes, context) => {
    const names = new Set<string>();
    const listens = new Set<string>();
    routes.forEach((route, index) => {
      if (names.has(route.name)) {
        context.addIssue({
          code: 'custom',
          message: `route name "${route.name}" appears twice`,
          path: [index, 'name'],
        });
      }
      names.add(route.name);
      if (route.listen.port === 0) return;
      const listen = `${route.listen.host}:${route.listen.port}`;
      if (listens.has(listen)) {
        context.addIssue({
          code: 'custom',
          message: `two routes listen on ${listen}`,
          path: [index, 'listen'],
        });
      }
      listens.add(listen);
    });
  })
  .describe('L4 routes: each listens on a TCP port and balances its connections over an upstream group.');

export type TcpRouteInput = z.input<typeof tcpRouteSchema>;
export type TcpRouteConfig = z.output<typeof tcpRouteSchema>;
export type TcpTargetConfig = TcpRouteConfig['targets'][number];
