import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import { GroundworkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { LATENCY_BUCKETS_S, type Metrics } from '../core/metrics.js';
import { type HistogramSeries, LatencyHistogram } from './latency-histogram.js';
import {
  createNodeServer,
  handleClientError,
  type NodeServer,
  type RequestHandler,
  type ServerLimits,
} from './node-server.js';
import { installProblemHandlers } from './problem-handlers.js';
import { genRequestId, installRequestContext, requestChildLogger } from './request-context.js';

/**
 * Who may call a route. Every route must declare it; see `installAccessDeclarations`.
 * `public`: anyone. `admin`: only admins (enforced by the gateway after authentication).
 * `rules`: any caller reaches the handler, which applies the collection's access rules.
 * `user`: only a signed-in user of an auth collection (the gateway refuses everyone else).
 */
export type RouteAccess = 'public' | 'admin' | 'rules' | 'user';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

export interface HttpAppOptions {
  limits: ServerLimits;
  tls?: { cert: Buffer; key: Buffer };
  hstsMaxAgeS: number;
  logger: Logger;
  metrics: Metrics;
}

export interface HttpApp {
  app: FastifyInstance;
  server: NodeServer;
  secure: boolean;
}

/**
 * The Fastify application on Groundwork's own listener (see node-server.ts for why the socket is
 * built here and not by Fastify): request ids and trace context, problem+json errors, 404/405,
 * latency histogram, HSTS on TLS, and the rule that every route declares who may call it.
 */
export function createHttpApp(options: HttpAppOptions): HttpApp {
  let server: NodeServer | undefined;
  const secure = options.tls !== undefined;
  // Fastify's types pick the server flavour from `http2` literally; the app API we use is the same.
  const createFastify = Fastify as unknown as (opts: Record<string, unknown>) => FastifyInstance;
  const app = createFastify({
    loggerInstance: options.logger,
    serverFactory: (handler: RequestHandler) => {
      server = createNodeServer(handler, options.limits, options.tls);
      return server;
    },
    http2: secure,
    bodyLimit: options.limits.bodyBytes,
    genReqId: genRequestId,
    childLoggerFactory: requestChildLogger,
    // One access-log line per request, written in onResponse below (with trace id and route).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    clientErrorHandler: handleClientError,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 },
  });

  // Bodies are JSON: Fastify's default text/plain parser would hand routes a string where they
  // expect an object; without it, any other media type is 415 HTTP_ERR_UNSUPPORTED_MEDIA_TYPE.
  app.removeContentTypeParser('text/plain');
  installRequestContext(app);
  // Hooks here are callback style: no promise and no microtask per request for work that never waits.
  // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host.
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    if (raw.httpVersion === '1.1' && raw.headers.host === undefined) {
      reply.header('connection', 'close');
      done(
        new GroundworkError('HTTP_ERR_BAD_REQUEST', {
          detail: 'HTTP/1.1 requests must carry a Host header.',
        }),
      );
      return;
    }
    done();
  });
  installProblemHandlers(app);
  installAccessDeclarations(app);

  const durations = new LatencyByRoute(options.metrics.registry);
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    // `routeOptions` is a getter that builds a new object on every read: read it once.
    const route = request.routeOptions.url;
    const elapsedMs = reply.elapsedTime;
    durations.observe(request.method, route, status, elapsedMs);
    // The access line is `info`: at `warn` and above it is not even assembled.
    const log = request.log as LevelAwareLogger;
    if (log.isLevelEnabled === undefined || log.isLevelEnabled('info')) {
      log.info(
        {
          method: request.method,
          url: request.url,
          route,
          status,
          durationMs: Math.round(elapsedMs * 100) / 100,
          // The gateway's client IP (X-Forwarded-For from trusted proxies) when it has one.
          remote: (request as { clientIp?: string }).clientIp || request.ip,
          // Who called (set by the gateway): ids only, never a credential.
          caller: callerOf(request as { principal?: LoggedPrincipal }),
        },
        'request',
      );
    }
    done();
  });

  if (secure && options.hstsMaxAgeS > 0) {
    const hsts = `max-age=${options.hstsMaxAgeS}; includeSubDomains`;
    app.addHook('onSend', (_request, reply, _payload, done) => {
      reply.header('strict-transport-security', hsts);
      done();
    });
  }

  if (!server) throw new Error('Fastify did not call serverFactory');
  return { app, server, secure };
}

/** Deny by default: a route without `config.access` is a programming error, caught at start-up. */
function installAccessDeclarations(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) {
      throw new Error(`route ${String(route.method)} ${route.url} does not declare config.access`);
    }
  });
}

type LevelAwareLogger = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };

/** Most route templates whose histogram series are kept (they come from registered routes). */
const MAX_LATENCY_ROUTES = 4096;

const REQUEST_DURATION = 'http_request_duration_seconds';

/**
 * `http_request_duration_seconds` by method, route template and status class, with each label
 * set's series looked up once. The series are `LatencyHistogram`'s plain counters (an observation
 * costs a bucket search, where prom-client's `Histogram` hashes the labels every time), exposed
 * exactly as a prom-client histogram would be.
 */
class LatencyByRoute {
  readonly #histogram: LatencyHistogram;
  /** Route template → method → status class (`Math.trunc(status / 100)`) → series. */
  readonly #children = new Map<string, Map<string, HistogramSeries[]>>();

  constructor(registry: Registry) {
    this.#histogram = new LatencyHistogram(registry, {
      name: REQUEST_DURATION,
      help: 'HTTP request duration from first byte received to response finished, by route template.',
      buckets: LATENCY_BUCKETS_S,
    });
  }

  observe(method: string, route: string | undefined, status: number, elapsedMs: number): void {
    const template = route ?? '(unmatched)';
    const statusClass = Math.trunc(status / 100);
    let byMethod = this.#children.get(template);
    if (byMethod === undefined) {
      if (this.#children.size >= MAX_LATENCY_ROUTES) this.#children.clear();
      byMethod = new Map();
      this.#children.set(template, byMethod);
    }
    let byClass = byMethod.get(method);
    if (byClass === undefined) {
      byClass = [];
      byMethod.set(method, byClass);
    }
    let child = byClass[statusClass];
    if (child === undefined) {
      child = this.#histogram.series({ method, route: template, status_class: `${statusClass}xx` });
      byClass[statusClass] = child;
    }
    child.observe(elapsedMs / 1000);
  }
}

interface LoggedPrincipal {
  readonly kind: string;
  readonly id?: string;
  readonly collection?: string;
  readonly via?: string;
}

/** `user:<collection>/<id> (via)`, `admin:<id>` or undefined for anonymous callers. */
function callerOf(request: { principal?: LoggedPrincipal | null }): string | undefined {
  const p = request.principal;
  if (!p || p.kind === 'anonymous') return undefined;
  if (p.kind === 'user') return `user:${p.collection}/${p.id}${p.via ? ` (${p.via})` : ''}`;
  return `${p.kind}:${p.id}`;
}
