/**
 * The `edge` section of the configuration: the reverse proxy's routes and upstream groups (issue 7).
 * One zod schema gives defaults, validation and the documentation (every `.describe()` text is what
 * `config print`, the README table and the `cluster up` launcher rely on), and it is the only shape
 * the edge accepts: the launcher writes a config file in exactly this form.
 *
 * - `routes[]` are tried in order, first match wins: host (exact or `*.example.com`), path (a prefix
 *   on segment boundaries, or a pattern with `:param` segments and a trailing `*`), methods and
 *   headers. A match sends the request to one upstream `group`, through the gateway's policies
 *   (`access` says who may call it) unless `bypassGateway` is set, with the route's header
 *   `transform` (fields set on or removed from the request and the response) applied on the way.
 * - `groups{}` are named sets of targets: a static list of URLs with weights, or a DNS name whose
 *   A/AAAA records are the targets; each with its balancer, sticky cookie, health checks, outlier
 *   detection, circuit breaker, retry budget, slow start and connection pool.
 *
 * Times are in ms (`…Ms`), sizes in bytes; an option whose 0 means "off" says so.
 */
import { z } from 'zod';
import { BALANCER_NAMES, MAX_WEIGHT } from './balancers/balancer.js';
import { tcpRoutesSchema } from './l4/tcp-config.js';
import { type HeaderDirection, headerEditProblem } from './proxy/header-transform.js';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const HOUR_MS = 3_600_000;
/** An HTTP token (RFC 9110 §5.6.2), used for header names and methods. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const GROUP_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

const hostPattern = z
  .string()
  .regex(
    /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
    'a lower-case host name, optionally starting with "*." (no port, no scheme)',
  );

const headerMatch = z.union([
  z.string().describe('The header must have exactly this value (several lines are joined with ", ").'),
  z.strictObject({
    regex: z
      .string()
      .min(1)
      .refine(isRegExp, 'must be a valid JavaScript regular expression')
      .describe('The header must match this regular expression.'),
  }),
  z.strictObject({
    present: z.boolean().describe('true: the header must be sent (any value); false: it must be absent.'),
  }),
]);

const percent = z.coerce.number().min(0).max(100);

const faultSchema = z
  .strictObject({
    delay: z
      .strictObject({
        fixedMs: int(0, HOUR_MS).default(0).describe('Added delay before the request is proxied, in ms.'),
        jitterMs: int(0, HOUR_MS)
          .default(0)
          .describe('A uniformly random extra delay from 0 to this, in ms, on top of fixedMs.'),
        percent: percent.default(100).describe('Share of requests (0–100) that are delayed.'),
      })
      .optional(),
    abort: z
      .strictObject({
        status: int(400, 599).default(503).describe('Status of the injected error response.'),
        percent: percent.default(100).describe('Share of requests (0–100) answered with the error.'),
      })
      .optional(),
  })
  .describe(
    'Fault injection for tests and demos (there is no tc netem here): delays and aborts for a share of requests. A request is first delayed (if drawn), then aborted (if drawn) without reaching any target.',
  );

/** A field value (RFC 9110 §5.5): visible characters and inner spaces/tabs, no leading or trailing space. */
const FIELD_VALUE = /^(?:[\x21-\x7e\x80-\xff]+(?:[\t ]+[\x21-\x7e\x80-\xff]+)*)?$/;
const MAX_HEADER_EDITS = 64;

const headerEditsSchema = (direction: HeaderDirection) =>
  z
    .strictObject({
      set: z
        .record(
          z.string().regex(TOKEN, 'a header name (an RFC 9110 token)'),
          z
            .string()
            .max(8_192)
            .regex(
              FIELD_VALUE,
              'a header value: visible ASCII or Latin-1 characters, inner spaces and tabs, no leading or trailing space',
            ),
        )
        .default({})
        .describe(
          `Fields set on the ${direction}: every field of the name is replaced by this one value (names case-insensitive).`,
        ),
      remove: z
        .array(z.string().regex(TOKEN, 'a header name (an RFC 9110 token)'))
        .default([])
        .describe(`Fields removed from the ${direction} (names case-insensitive).`),
    })
    .superRefine((edits, ctx) => {
      const names = [
        ...Object.keys(edits.set).map((name) => ['set', name] as const),
        ...edits.remove.map((name) => ['remove', name] as const),
      ];
      if (names.length > MAX_HEADER_EDITS) {
        ctx.addIssue({ code: 'custom', message: `at most ${MAX_HEADER_EDITS} header edits per direction` });
      }
      const seen = new Set<string>();
      for (const [action, name] of names) {
        const problem = headerEditProblem(direction, action, name);
        if (problem !== undefined) {
          ctx.addIssue({ code: 'custom', path: [action], message: `cannot ${action} "${name}": ${problem}` });
        }
        const lower = name.toLowerCase();
        if (seen.has(lower)) {
          ctx.addIssue({
            code: 'custom',
            path: [action],
            message: `"${name}" is named twice (set already replaces a field; give each name once)`,
          });
        }
        seen.add(lower);
      }
    });

const transformSchema = z
  .strictObject({
    request: headerEditsSchema('request')
      .optional()
      .describe(
        'Edits of the request sent upstream, after the edge added X-Forwarded-*, Forwarded and Via. Host, Expect, connection and framing fields cannot be edited; the forwarding fields and Via may be removed, not set.',
      ),
    response: headerEditsSchema('response')
      .optional()
      .describe(
        "Edits of the upstream's response, before the edge adds the sticky cookie and the gateway its own headers (request id, CORS, RateLimit, security headers where none are set). Connection and framing fields cannot be edited; Via may be removed, not set. Not applied to the edge's own error responses or to a WebSocket's 101.",
      ),
  })
  .describe(
    'Header transforms: { request?: { set?: { name: value }, remove?: [names] }, response?: { set?, remove? } }, applied while proxying without buffering (src/edge/proxy/header-transform.ts).',
  );

const routeSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/)
      .optional()
      .describe('Label in logs, metrics and errors. Default `route-<index>`.'),
    hosts: z
      .array(hostPattern)
      .optional()
      .describe(
        'Match the Host (or :authority) without its port: exact names or "*.example.com" (any subdomain). Default: any host.',
      ),
    prefix: z
      .string()
      .regex(/^\/[^\s?#]*$/, 'must start with / and contain no query')
      .optional()
      .describe(
        'Match paths equal to this prefix or below it on a segment boundary ("/svc" matches /svc and /svc/a, not /svcx). Default "/" when `path` is not given.',
      ),
    path: z
      .string()
      .regex(/^\/[^\s?#]*$/, 'must start with / and contain no query')
      .optional()
      .describe(
        'Match a path pattern instead of a prefix: literal segments, ":name" segments, and a trailing "*" for any rest ("/users/:id/*").',
      ),
    methods: z
      .array(z.string().regex(TOKEN))
      .min(1)
      .optional()
      .describe(
        'Match only these methods (upper case, e.g. ["GET","HEAD"]). Default: any of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS.',
      ),
    headers: z
      .record(z.string().regex(TOKEN), headerMatch)
      .optional()
      .describe(
        'Match request headers (names case-insensitive): { "x-canary": "1", "x-user": { "regex": "^a" }, "x-debug": { "present": false } }.',
      ),
    group: z
      .string()
      .regex(GROUP_NAME)
      .describe('The upstream group (a key of edge.groups) that serves the route.'),
    access: z
      .enum(['public', 'user', 'admin'])
      .describe(
        'Who may call the route, enforced by the gateway before the request is proxied: anyone, a signed-in user of an auth collection, or an admin. Required: there is no default (deny by default).',
      ),
    bypassGateway: z
      .boolean()
      .default(false)
      .describe(
        'Serve the route before the HTTP framework and the gateway: no IP rules, CORS, rate limit, idempotency, request id or access log; the fastest path. Only for `access: "public"`.',
      ),
    stripPrefix: z
      .boolean()
      .default(false)
      .describe('Remove the matched `prefix` from the path sent upstream ("/svc/a" → "/a", "/svc" → "/").'),
    timeouts: z
      .strictObject({
        tryMs: int(1, HOUR_MS)
          .default(15_000)
          .describe(
            'Per try: time from sending the request to one target until its response head arrives; then the try fails (504, or a retry).',
          ),
        totalMs: int(1, HOUR_MS)
          .default(30_000)
          .describe(
            'All tries together, from the request reaching the edge until a response head is sent (fault delays included).',
          ),
        idleMs: int(0, HOUR_MS)
          .default(60_000)
          .describe(
            'Longest pause between two chunks of a response body before the response is cut; 0 = never (long-lived SSE).',
          ),
      })
      .prefault({}),
    retries: z
      .strictObject({
        maxTries: int(1, 10)
          .default(3)
          .describe(
            'Most tries of one request, each on a different target (1 = no retry). Retried: connect failures always; timeouts, resets and the listed statuses only for GET, HEAD, OPTIONS, PUT, DELETE and POST with an Idempotency-Key, and only without a request body. Bounded by the group retry budget.',
          ),
        statuses: z
          .array(int(500, 599))
          .default([502, 503, 504])
          .describe('Upstream response statuses that are retried (idempotent requests only).'),
      })
      .prefault({}),
    fault: faultSchema.optional(),
    transform: transformSchema.optional(),
  })
  .refine((route) => !(route.prefix !== undefined && route.path !== undefined), {
    message: 'give either `prefix` or `path`, not both',
  })
  .refine((route) => !route.bypassGateway || route.access === 'public', {
    message: 'bypassGateway needs access "public" (the gateway is what checks callers)',
  });

const targetSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .describe(
      'http(s)://host:port[/base-path] of one target; a base path is prepended to every proxied path.',
    ),
  weight: int(1, MAX_WEIGHT).default(1).describe('Relative share of traffic for weighted balancers.'),
});

const groupSchema = z
  .strictObject({
    targets: z
      .array(targetSchema)
      .min(1)
      .optional()
      .describe('A static list of targets. Give either `targets` or `dns`.'),
    dns: z
      .strictObject({
        hostname: z.string().min(1).describe('Every A/AAAA record of this name is a target.'),
        port: int(1, 65_535).describe('The port of every target.'),
        scheme: z.enum(['http', 'https']).default('http'),
        families: z
          .array(z.union([z.literal(4), z.literal(6)]))
          .min(1)
          .default([4, 6]),
        servers: z
          .array(z.string().min(1))
          .optional()
          .describe('DNS servers ("10.0.0.2", "127.0.0.1:5353"). Default: the system resolvers.'),
        minTtlMs: int(1, 24 * HOUR_MS)
          .default(1_000)
          .describe('Shortest time an answer is used.'),
        maxTtlMs: int(1, 24 * HOUR_MS)
          .default(300_000)
          .describe('Longest time an answer is used.'),
      })
      .optional()
      .describe(
        'Discover the targets by DNS (re-resolved within the TTL; a failed resolution keeps the last good set).',
      ),
    balancer: z
      .preprocess(
        (value) => (typeof value === 'string' ? { algorithm: value } : value),
        z.strictObject({
          algorithm: z
            .enum(BALANCER_NAMES)
            .default('weighted-round-robin')
            .describe('How a target is chosen for each try (see src/edge/balancers/create-balancer.ts).'),
          hashOn: z
            .union([
              z.strictObject({ header: z.string().regex(TOKEN) }),
              z.strictObject({ cookie: z.string().regex(TOKEN) }),
              z.strictObject({ param: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/) }),
              z.strictObject({ clientIp: z.literal(true) }),
            ])
            .optional()
            .describe(
              'Key of consistent-hash and maglev: a request header, a cookie, a path parameter of the route pattern, or the client IP (the default).',
            ),
          vnodesPerWeight: int(1, 10_000)
            .optional()
            .describe('consistent-hash: ring points per unit of weight.'),
          tableSize: int(7, 16_777_213).optional().describe('maglev: lookup-table size (a prime).'),
          decayMs: int(1, HOUR_MS).optional().describe('peak-ewma: decay time constant.'),
        }),
      )
      .prefault({})
      .describe(
        'The balancer: { algorithm, hashOn?, … }, or just the algorithm\'s name ("least-connections").',
      ),
    sticky: z
      .strictObject({
        cookie: z.string().regex(TOKEN).default('gw_sticky').describe('Name of the sticky-session cookie.'),
        secret: z
          .string()
          .min(16)
          .optional()
          .describe(
            'HMAC key of the cookie values (≥ 16 characters), the same on every edge node. Default: unkeyed hashes of the target ids.',
          ),
        maxAgeS: int(0, 31_536_000).default(0).describe('Cookie Max-Age in seconds; 0 = a session cookie.'),
        secure: z.boolean().default(false).describe('Send the cookie with the Secure attribute.'),
      })
      .optional()
      .describe(
        'Sticky sessions: a cookie pins a client to the target that served it while that target is available.',
      ),
    healthCheck: z
      .strictObject({
        path: z
          .string()
          .regex(/^\/\S*$/)
          .default('/healthz')
          .describe('Path probed with GET on every target.'),
        intervalMs: int(10, HOUR_MS).default(5_000),
        timeoutMs: int(1, HOUR_MS).default(2_000),
        healthyThreshold: int(1, 100).default(2).describe('Passes in a row that bring a target back.'),
        unhealthyThreshold: int(1, 100).default(3).describe('Failures in a row that take a target out.'),
      })
      .optional()
      .describe('Active health checks; absent: none (passive outlier detection still applies).'),
    outlierDetection: z
      .strictObject({
        enabled: z.boolean().default(true),
        consecutive5xx: int(0, 1_000)
          .default(5)
          .describe('5xx or connection failures in a row that eject a target; 0 = off.'),
        consecutiveLocalOriginFailures: int(0, 1_000)
          .default(3)
          .describe('Connect failures, timeouts or resets in a row that eject a target; 0 = off.'),
        baseEjectionMs: int(1, 24 * HOUR_MS)
          .default(30_000)
          .describe('First ejection; grows with each ejection.'),
        maxEjectionMs: int(1, 24 * HOUR_MS).default(300_000),
        maxEjectionPercent: int(0, 100)
          .default(50)
          .describe('Share of the group that may be ejected at once (at least one target always stays in).'),
      })
      .prefault({}),
    circuitBreaker: z
      .strictObject({
        enabled: z.boolean().default(true),
        consecutiveFailures: int(0, 1_000)
          .default(5)
          .describe('Failures in a row that open the breaker of a target; 0 = off.'),
        failureRateThreshold: z.coerce
          .number()
          .min(0)
          .max(1)
          .default(0.5)
          .describe('Failure share over the window that opens it; 0 = off.'),
        minimumRequests: int(1, 1_000_000).default(20),
        windowMs: int(1, HOUR_MS).default(10_000),
        openMs: int(0, HOUR_MS)
          .default(5_000)
          .describe('First cool-down before trial requests; doubles while failing.'),
        maxOpenMs: int(0, HOUR_MS).default(60_000),
      })
      .prefault({}),
    retryBudget: z
      .strictObject({
        ratio: z.coerce
          .number()
          .min(0)
          .max(10)
          .default(0.2)
          .describe('Retries allowed per first try (0.2 = at most 20% extra load).'),
        minRetriesPerSecond: z.coerce
          .number()
          .min(0)
          .max(100_000)
          .default(10)
          .describe('Retries per second always allowed.'),
        windowMs: int(100, HOUR_MS).default(10_000),
      })
      .prefault({}),
    slowStart: z
      .strictObject({
        windowMs: int(0, HOUR_MS)
          .default(0)
          .describe(
            'A target that joins or recovers ramps from minFraction to its full weight over this time (weighted balancers only); 0 = off.',
          ),
        minFraction: z.coerce.number().min(0).max(1).default(0.1),
        aggression: z.coerce.number().positive().max(100).default(1),
      })
      .prefault({}),
    pool: z
      .strictObject({
        connections: int(1, 100_000).default(256).describe('Most open connections per target.'),
        pipelining: int(1, 100).default(1).describe('Requests in flight per connection; 1 = no pipelining.'),
        keepAliveTimeoutMs: int(1, HOUR_MS)
          .default(4_000)
          .describe('How long an idle upstream connection is kept.'),
        connectTimeoutMs: int(1, HOUR_MS).default(5_000),
        rejectUnauthorized: z.boolean().default(true).describe('https targets: verify the certificate.'),
      })
      .prefault({}),
    preserveHost: z
      .boolean()
      .default(true)
      .describe("Send the client's Host upstream (true) or the target's host:port (false)."),
    drainTimeoutMs: int(0, HOUR_MS)
      .default(30_000)
      .describe(
        'A target removed from the group (DNS change, reconfiguration) finishes its requests for at most this long; 0 = no limit.',
      ),
  })
  .refine((group) => (group.targets === undefined) !== (group.dns === undefined), {
    message: 'give either `targets` or `dns`',
  });

const edgeSectionSchema = z
  .strictObject({
    routes: z
      .array(routeSchema)
      .default([])
      .describe(
        'Reverse-proxy routes, first match wins: { hosts?, prefix? or path?, methods?, headers?, group, access, stripPrefix?, timeouts?, retries?, fault?, bypassGateway? }. The edge is active only when this is non-empty.',
      ),
    groups: z
      .record(z.string().regex(GROUP_NAME), groupSchema)
      .default({})
      .describe(
        'Upstream groups by name: { targets: [{ url, weight }] or dns: { hostname, port }, balancer?, sticky?, healthCheck?, outlierDetection?, circuitBreaker?, retryBudget?, slowStart?, pool?, preserveHost? }.',
      ),
    tcp: tcpRoutesSchema.describe(
      'L4 (TCP) routes: { name, listen: { host?, port }, targets or dns, balancer?, healthCheck?, … } (src/edge/l4/tcp-config.ts).',
    ),
    via: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]*$/)
      .default('groundwork')
      .describe(
        'Pseudonym this proxy adds to Via on requests and responses (RFC 9110 §7.6.3); "" adds none.',
      ),
    serveApi: z
      .boolean()
      .default(true)
      .describe(
        'false: an edge-only node — no data, auth or admin-key routes, only the proxy, health and metrics.',
      ),
  })
  .superRefine((edge, ctx) => {
    edge.routes.forEach((route, index) => {
      if (edge.groups[route.group] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'group'],
          message: `no group "${route.group}" in edge.groups`,
        });
      }
      if (
        route.fault?.delay &&
        route.fault.delay.fixedMs + route.fault.delay.jitterMs >= route.timeouts.totalMs
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'fault', 'delay'],
          message: 'the injected delay must be shorter than timeouts.totalMs',
        });
      }
    });
  });

/**
 * The `edge` section. It also accepts its JSON text, so the whole section can come from one
 * environment variable (e.g. `GROUNDWORK_EDGE`, written by `groundwork cluster up` for its edge node).
 */
export const edgeConfigSchema = z.preprocess(parseJsonText, edgeSectionSchema);

export type EdgeConfig = z.output<typeof edgeConfigSchema>;
export type EdgeRouteConfig = EdgeConfig['routes'][number];
export type EdgeGroupConfig = EdgeConfig['groups'][string];
export type EdgeFaultConfig = NonNullable<EdgeRouteConfig['fault']>;
export type EdgeTransformConfig = NonNullable<EdgeRouteConfig['transform']>;

/** A string is parsed as JSON; anything else, or text that is not JSON, is left for the schema to judge. */
function parseJsonText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}
