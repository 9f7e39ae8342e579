/**
 * The edge as a lifecycle component: the reverse proxy on Groundwork's own listener, built from the
 * `edge` configuration (issue 7). It owns the route table and the upstream groups, and plugs into
 * the HTTP app three ways:
 *
 * 1. **Routes behind the gateway** (the default): every distinct path shape of the routes is a
 *    Fastify route (`/svc` and `/svc/*` for a prefix, the pattern itself otherwise) in an
 *    encapsulated context whose only body parser accepts every media type and reads nothing, so the
 *    request body stays a stream for the proxy. The gateway's hooks run as on any route (IP rules,
 *    CORS, authentication, rate limit, load shedding, idempotency); then the route's own
 *    `onRequest` picks the edge route (host, method, headers) and enforces its `access` before any
 *    `preHandler` runs. The Fastify route's `config.access` is the routes' common access, or `rules`
 *    when routes sharing a path shape differ (the edge's hook then decides per route).
 * 2. **Routes with `bypassGateway`**: served from the server's `request` event before Fastify sees
 *    the request (the edge wraps Fastify's listener), for the cheapest possible proxying. Only when
 *    such routes exist; other requests pass through untouched, in route order (a gateway route that
 *    comes first in `edge.routes` still wins).
 * 3. **Upgrades** (WebSocket): the server's `upgrade` event. Access is checked with the
 *    authenticator for non-public routes; the other gateway policies do not apply to upgrades.
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Authenticator, adminRequired } from '../auth/authenticator.js';
import type { ResolvedConfig } from '../core/config.js';
import { GroundworkError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { CidrSet, clientIp, normalizeIp } from '../gateway/ip-rules.js';
import { ANONYMOUS, type Principal } from '../gateway/principal.js';
import type { HttpApp, RouteAccess } from '../net/http-app.js';
import type { EdgeConfig } from './edge-config.js';
import { EdgeMetrics } from './edge-metrics.js';
import type { Scheduler } from './health/scheduler.js';
import { upstreamRequestHeaders, viaEntry } from './proxy/forwarding-headers.js';
import { problemResponseText } from './proxy/proxy-errors.js';
import { ProxyRequest } from './proxy/proxy-request.js';
import {
  FastifyResponseSink,
  type FastifySinkOptions,
  RawResponseSink,
  type ResponseSink,
} from './proxy/response-sink.js';
import { proxyUpgrade } from './proxy/upgrade-proxy.js';
import { requestHost } from './routing/host-match.js';
import {
  type CompiledRoute,
  hasDotSegment,
  PROXIED_METHODS,
  type RouteMatch,
  RouteTable,
  upstreamPath,
} from './routing/route-table.js';
import { cookieValue, type TargetStatus, UpstreamGroup } from './upstream/upstream-group.js';

export interface EdgeOptions {
  /** Reads `edge`, `gateway.trustedProxies`, `gateway.securityHeaders` and `server.tls.hstsMaxAgeS`. */
  config: Pick<ResolvedConfig, 'edge' | 'gateway' | 'server'>;
  http: HttpApp;
  metrics: Metrics;
  logger: Logger;
  /** Checks callers of non-public routes on WebSocket upgrades (HTTP requests use the gateway's). */
  authenticator?: Authenticator;
  /** Uniform in [0, 1) for fault injection; default `Math.random`. */
  random?: () => number;
  /** Timers of health checks, drains and DNS refreshes; default real time. */
  scheduler?: Scheduler;
  /** Clock of breakers, ejections, budgets and slow start; default `Date.now`. */
  clock?: () => number;
}

export interface EdgeStatus {
  readonly groups: Record<string, readonly TargetStatus[]>;
}

/** What the edge's `onRequest` hook found for a request it will proxy. */
const MATCH = Symbol('groundwork.edgeMatch');
type EdgeRequest = FastifyRequest & { [MATCH]?: RouteMatch; clientIp: string; principal: Principal | null };

/** Per-socket cache of the peer's address and whether it is a trusted proxy. */
const PEER = Symbol('groundwork.edgePeer');
type PeerInfo = { readonly peer: string; readonly trusted: boolean };

const RESPONSE_VIA_VERSION = '1.1';

/**
 * @example
 *   const edge = new Edge({ config, http: httpApp, metrics, logger, authenticator });
 *   edge.install();             // before the app starts listening
 *   lifecycle.add(edge);        // before the HTTP listener: started first, closed after it
 */
export class Edge implements Component {
  readonly name = 'edge';
  readonly routes: RouteTable;
  readonly #config: EdgeConfig;
  readonly #http: HttpApp;
  readonly #logger: Logger;
  readonly #groups = new Map<string, UpstreamGroup>();
  readonly #trusted: CidrSet;
  readonly #authenticator: Authenticator | undefined;
  readonly #random: () => number;
  readonly #sinkOptions: FastifySinkOptions;
  readonly #responseVia: string;
  /** The request `Via` entry for HTTP/1.1, the usual case (others are made per request). */
  readonly #requestVia11: string;
  #installed = false;
  #restoreListeners: (() => void) | undefined;

  constructor(options: EdgeOptions) {
    const { config } = options;
    this.#config = config.edge;
    this.#http = options.http;
    this.#logger = options.logger;
    this.#authenticator = options.authenticator;
    this.#random = options.random ?? Math.random;
    this.#trusted = new CidrSet(config.gateway.trustedProxies);
    const hstsS = config.server.tls.hstsMaxAgeS;
    this.#sinkOptions = {
      securityHeaders: config.gateway.securityHeaders.enabled,
      hsts: options.http.secure && hstsS > 0 ? `max-age=${hstsS}; includeSubDomains` : undefined,
    };
    this.#responseVia = viaEntry(RESPONSE_VIA_VERSION, this.#config.via);
    this.#requestVia11 = viaEntry('1.1', this.#config.via);
    this.routes = new RouteTable(this.#config.routes);
    const metrics = new EdgeMetrics(options.metrics.registry, () => this.#gaugeStates());
    for (const [name, group] of Object.entries(this.#config.groups)) {
      this.#groups.set(
        name,
        new UpstreamGroup({
          name,
          config: group,
          metrics,
          logger: options.logger,
          ...(options.scheduler ? { scheduler: options.scheduler } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
        }),
      );
    }
  }

  /** Registers the proxied routes and the request/upgrade listeners. Call once, before listening. */
  install(): void {
    if (this.#installed) return;
    this.#installed = true;
    this.#registerFastifyRoutes();
    const server = this.#http.server as unknown as import('node:http').Server;
    if (this.routes.routes.some((r) => r.config.bypassGateway)) {
      const listeners = server.listeners('request') as ((
        req: IncomingMessage,
        res: ServerResponse,
      ) => void)[];
      server.removeAllListeners('request');
      const fastify = (req: IncomingMessage, res: ServerResponse) => {
        for (const listener of listeners) listener.call(server, req, res);
      };
      const dispatch = (req: IncomingMessage, res: ServerResponse) => {
        if (!this.#serveRaw(req, res)) fastify(req, res);
      };
      server.on('request', dispatch);
      this.#restoreListeners = () => {
        server.removeListener('request', dispatch);
        for (const listener of listeners) server.on('request', listener);
      };
    }
    const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#serveUpgrade(req, socket, head).catch((error: unknown) => {
        this.#logger.error({ err: error }, 'edge: upgrade failed');
        socket.destroy();
      });
    };
    server.on('upgrade', upgrade);
    const restoreRequest = this.#restoreListeners;
    this.#restoreListeners = () => {
      server.removeListener('upgrade', upgrade);
      restoreRequest?.();
    };
  }

  /** The upstream group `name` (to reconfigure its targets from outside). */
  group(name: string): UpstreamGroup | undefined {
    return this.#groups.get(name);
  }

  /** Every group's targets: health, ejection, breaker, slow start, in flight, draining. */
  status(): EdgeStatus {
    const groups: Record<string, readonly TargetStatus[]> = {};
    for (const [name, group] of this.#groups) groups[name] = group.status();
    return { groups };
  }

  async start(): Promise<void> {
    await Promise.all([...this.#groups.values()].map((group) => group.start()));
  }

  async close(): Promise<void> {
    this.#restoreListeners?.();
    this.#restoreListeners = undefined;
    await Promise.all([...this.#groups.values()].map((group) => group.close()));
  }

  *#gaugeStates() {
    for (const group of this.#groups.values()) yield* group.gaugeStates();
  }

  #registerFastifyRoutes(): void {
    const byUrl = this.routes.byFastifyUrl();
    if (byUrl.size === 0) return;
    const app = this.#http.app;
    void app.register(async (child) => {
      // Proxied bodies stay streams: one parser for every media type (and none), reading nothing.
      child.removeAllContentTypeParsers();
      child.addContentTypeParser('*', (_request, _payload, done) => done(null));
      for (const [url, candidates] of byUrl) {
        const accesses = new Set(candidates.map((r) => r.config.access));
        const access: RouteAccess = accesses.size === 1 ? [...accesses][0]! : 'rules';
        const methods = PROXIED_METHODS.filter((m) => candidates.some((r) => r.methods.has(m)));
        try {
          child.route({
            method: methods,
            url,
            exposeHeadRoute: false,
            config: { access, edgeRoutes: candidates },
            // The route's own hook runs after every app hook (the gateway's): it knows its candidates,
            // so nothing is read back from `routeOptions` (a getter that builds an object per read).
            // Callback style: no promise per request for a decision that never waits.
            onRequest: (request, _reply, done) => {
              let error: GroundworkError | undefined;
              try {
                this.#authorize(request as EdgeRequest, candidates);
              } catch (thrown) {
                error = thrown as GroundworkError;
              }
              done(error);
            },
            handler: (request, reply) => this.#proxyFastify(request as EdgeRequest, reply),
          });
        } catch (error) {
          throw new GroundworkError('CONFIG_ERR_INVALID', {
            detail: `edge route ${candidates.map((r) => r.name).join(', ')}: cannot serve ${url}: ${(error as Error).message}`,
            cause: error,
          });
        }
      }
    });
  }

  /** The edge's `onRequest` (after the gateway's): picks the edge route and checks its access. */
  #authorize(request: EdgeRequest, candidates: readonly CompiledRoute[]): void {
    const raw = request.raw;
    const path = pathOf(raw.url ?? '/');
    if (hasDotSegment(path)) {
      throw new GroundworkError('HTTP_ERR_BAD_REQUEST', {
        detail: 'The path must not contain "." or ".." segments.',
      });
    }
    const match = this.routes.match(
      { method: request.method, path, host: requestHost(raw.headers), headers: raw.headers },
      candidates,
    );
    if (match === undefined) {
      throw new GroundworkError('HTTP_ERR_NOT_FOUND', { detail: `No route for ${request.method} ${path}` });
    }
    const denied = accessError(match.route.config.access, request.principal ?? ANONYMOUS);
    if (denied !== undefined) throw denied;
    request[MATCH] = match;
  }

  #proxyFastify(request: EdgeRequest, reply: FastifyReply): void {
    const match = request[MATCH];
    if (match === undefined) {
      void reply.send(new GroundworkError('HTTP_ERR_NOT_FOUND', { detail: 'No edge route matched.' }));
      return;
    }
    const sink = new FastifyResponseSink(request, reply, this.#sinkOptions);
    this.#proxy(request.raw, match, sink, request.clientIp || undefined, this.#http.secure);
  }

  /** Serves a request before Fastify when its first matching route bypasses the gateway. */
  #serveRaw(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* / */) return false;
    const path = pathOf(url);
    const method = req.method ?? 'GET';
    const match = this.routes.match({ method, path, host: requestHost(req.headers), headers: req.headers });
    if (match === undefined || !match.route.config.bypassGateway) return false;
    const sink = new RawResponseSink(res);
    if (hasDotSegment(path)) {
      sink.fail(
        new GroundworkError('HTTP_ERR_BAD_REQUEST', {
          detail: 'The path must not contain "." or ".." segments.',
        }),
      );
      return true;
    }
    this.#proxy(req, match, sink, undefined, this.#http.secure);
    return true;
  }

  /** `ip`: the client IP when the gateway already found it; otherwise found here if the balancer hashes it. */
  #proxy(
    req: IncomingMessage,
    match: RouteMatch,
    sink: ResponseSink,
    ip: string | undefined,
    secure: boolean,
  ): void {
    const route = match.route;
    const group = this.#groups.get(route.config.group)!;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const peer = this.#peer(req);
    const host = hostHeader(req);
    const forwarded = upstreamRequestHeaders(req.rawHeaders, {
      peer: peer.peer,
      peerTrusted: peer.trusted,
      proto: secure ? 'https' : 'http',
      host,
      via: this.#requestVia(req.httpVersion),
      upstreamHost: group.config.preserveHost && host !== undefined ? host : '',
    });
    const transform = route.requestTransform;
    const headers = transform === undefined ? forwarded : transform(forwarded);
    new ProxyRequest({
      route,
      group,
      req,
      sink,
      path: upstreamPath(route, path) + (query === -1 ? '' : url.slice(query)),
      headers,
      hasBody: hasBody(req),
      clientIp: ip ?? (group.hashesClientIp ? this.#clientIp(req) : undefined),
      hashKey: group.hashKey(req.headers, match.params),
      stickyCookie:
        group.stickyCookie === undefined ? undefined : cookieValue(req.headers.cookie, group.stickyCookie),
      via: this.#responseVia,
      random: this.#random,
      startedMs: Date.now(),
    }).start();
  }

  async #serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = req.url ?? '/';
    const path = pathOf(url);
    const match =
      url.charCodeAt(0) === 47
        ? this.routes.match({
            method: req.method ?? 'GET',
            path,
            host: requestHost(req.headers),
            headers: req.headers,
          })
        : undefined;
    const refuse = (error: GroundworkError) => {
      if (!socket.destroyed) socket.end(problemResponseText(error));
    };
    if (match === undefined) {
      // Another component may serve this upgrade. When nobody else listens, the request is served
      // as the ordinary request it also is (Node sends every request with `Upgrade` here once an
      // `upgrade` listener exists: `Upgrade: h2c` from curl must still reach the API's routes).
      if (this.#http.server.listenerCount('upgrade') <= 1) this.#serveAsRequest(req, socket);
      return;
    }
    if (hasDotSegment(path)) {
      refuse(
        new GroundworkError('HTTP_ERR_BAD_REQUEST', {
          detail: 'The path must not contain "." or ".." segments.',
        }),
      );
      return;
    }
    const route = match.route;
    if (route.config.access !== 'public') {
      let principal: Principal = ANONYMOUS;
      if (this.#authenticator !== undefined) {
        const result = await this.#authenticator.authenticate({
          method: req.method ?? 'GET',
          headers: req.headers,
          secure: this.#http.secure,
        });
        if (result.error !== undefined) {
          refuse(result.error);
          return;
        }
        principal = result.principal;
      }
      const denied = accessError(route.config.access, principal);
      if (denied !== undefined) {
        refuse(denied);
        return;
      }
    }
    const group = this.#groups.get(route.config.group)!;
    const query = url.indexOf('?');
    const peer = this.#peer(req);
    const host = hostHeader(req);
    const forwarded = upstreamRequestHeaders(req.rawHeaders, {
      peer: peer.peer,
      peerTrusted: peer.trusted,
      proto: this.#http.secure ? 'https' : 'http',
      host,
      via: this.#requestVia(req.httpVersion),
      upstreamHost: group.config.preserveHost && host !== undefined ? host : '',
    });
    const headers = route.requestTransform === undefined ? forwarded : route.requestTransform(forwarded);
    proxyUpgrade({
      route,
      group,
      req,
      socket,
      head,
      path: upstreamPath(route, path) + (query === -1 ? '' : url.slice(query)),
      headers,
      protocol: typeof req.headers.upgrade === 'string' ? req.headers.upgrade : 'websocket',
      clientIp: this.#clientIp(req),
      hashKey: group.hashKey(req.headers, match.params),
      stickyCookie:
        group.stickyCookie === undefined ? undefined : cookieValue(req.headers.cookie, group.stickyCookie),
      via: this.#responseVia,
    });
  }

  /** Answers an upgrade request nobody takes as a plain request, on a response of its own, then closes. */
  #serveAsRequest(req: IncomingMessage, socket: Duplex): void {
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    this.#http.server.emit('request', req, res);
  }

  #requestVia(httpVersion: string): string {
    return httpVersion === '1.1' ? this.#requestVia11 : viaEntry(httpVersion, this.#config.via);
  }

  #peer(req: IncomingMessage): PeerInfo {
    const socket = req.socket as Socket & { [PEER]?: PeerInfo };
    let info = socket[PEER];
    if (info === undefined) {
      const peer = normalizeIp(socket.remoteAddress ?? '');
      info = { peer, trusted: peer !== '' && this.#trusted.contains(peer) };
      socket[PEER] = info;
    }
    return info;
  }

  #clientIp(req: IncomingMessage): string {
    const peer = this.#peer(req);
    if (!peer.trusted) return peer.peer;
    return clientIp({
      remoteAddress: peer.peer,
      xForwardedFor: req.headers['x-forwarded-for'],
      forwarded: req.headers.forwarded,
      trustedProxies: this.#trusted,
    });
  }
}

/** The gateway's access rule for `admin` and `user` routes, applied to one edge route. */
export function accessError(
  access: 'public' | 'user' | 'admin',
  principal: Principal,
): GroundworkError | undefined {
  if (access === 'admin' && (principal.kind !== 'admin' || principal.scopes !== undefined)) {
    return adminRequired(principal);
  }
  if (access === 'user' && principal.kind !== 'user') {
    return principal.kind === 'anonymous'
      ? new GroundworkError('AUTH_ERR_UNAUTHENTICATED', {
          detail: 'Sign in first: send a session cookie or Authorization: Bearer <access token>.',
          headers: { 'www-authenticate': 'Bearer' },
        })
      : new GroundworkError('AUTH_ERR_FORBIDDEN', { detail: 'Only signed-in users may do this.' });
  }
  return undefined;
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function hostHeader(req: IncomingMessage): string | undefined {
  const value = req.headers[':authority'] ?? req.headers.host;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Whether the request carries a body to stream upstream. */
function hasBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor === 2) {
    return !(req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders;
  }
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}
