import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter } from 'prom-client';
import { type Authenticator, adminRequired } from '../auth/authenticator.js';
import type { ResolvedConfig } from '../core/config.js';
import { GroundworkError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Database } from '../db/database.js';
import { mergeVary } from '../net/vary.js';
import { ConcurrencyLimit } from './concurrency-limit.js';
import { type CompiledCors, compileCors, evaluateCors } from './cors.js';
import { IdempotencyPolicy } from './idempotency/idempotency-policy.js';
import { SqlIdempotencyStore } from './idempotency/sql-idempotency-store.js';
import { CidrSet, clientIp, decideIp, normalizeIp } from './ip-rules.js';
import { ANONYMOUS, callerScope } from './principal.js';
import { RateLimitGate } from './rate-limit-gate.js';
import { type EffectivePolicies, RoutePolicies } from './route-policies.js';
import { defaultSecurityHeaders } from './security-headers.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Policies in force for this request (global defaults merged with the matching route override). */
    policies: EffectivePolicies;
  }
}

/**
 * The API gateway: one pipeline of policies in front of every route, in a fixed order —
 * IP rules → CORS → authentication → rate limit → concurrency limit → idempotency → handler —
 * configured globally under `gateway` and per route under `gateway.routes`.
 * Each decision is counted in `gateway_decisions_total{policy,outcome}`.
 */
export class Gateway implements Component {
  readonly name = 'gateway';
  readonly #config: ResolvedConfig;
  readonly #policies: RoutePolicies;
  readonly #trusted: CidrSet;
  readonly #ipSets = new Map<number, { allow?: CidrSet; deny?: CidrSet }>();
  readonly #cors: CompiledCors;
  readonly #concurrency = new Map<string, ConcurrencyLimit>();
  readonly #rateLimits: RateLimitGate;
  readonly #idempotency: IdempotencyPolicy;
  readonly #idempotencyStore: SqlIdempotencyStore;
  readonly #decisions: Counter<'policy' | 'outcome'>;
  /** `#decisions` children by policy and outcome (a fixed, small set of pairs). */
  readonly #decisionChildren = new Map<string, Map<string, DecisionCounter>>();
  readonly #logger: Logger;
  readonly #authenticator: Authenticator | undefined;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(deps: {
    config: ResolvedConfig;
    database: Database;
    metrics: Metrics;
    logger: Logger;
    authenticator?: Authenticator;
  }) {
    const gateway = deps.config.gateway;
    this.#authenticator = deps.authenticator;
    this.#config = deps.config;
    this.#logger = deps.logger;
    this.#policies = new RoutePolicies(gateway);
    this.#trusted = new CidrSet(gateway.trustedProxies);
    for (const set of this.#policies.all()) {
      this.#ipSets.set(set.overrideIndex, {
        ...(set.ipRules.allow.length > 0 ? { allow: new CidrSet(set.ipRules.allow) } : {}),
        ...(set.ipRules.deny.length > 0 ? { deny: new CidrSet(set.ipRules.deny) } : {}),
      });
    }
    this.#cors = compileCors(gateway.cors);
    this.#rateLimits = new RateLimitGate(this.#policies.all(), deps.logger);
    this.#idempotencyStore = new SqlIdempotencyStore(deps.database);
    this.#idempotency = new IdempotencyPolicy(this.#idempotencyStore);
    this.#decisions = new Counter({
      name: 'gateway_decisions_total',
      help: 'Gateway policy decisions by policy and outcome.',
      labelNames: ['policy', 'outcome'],
      registers: [deps.metrics.registry],
    });
  }

  /**
   * Registers the pipeline's hooks; call before routes are added. Hooks are callback style and run
   * synchronously as far as they can: a request without credentials on a route without a rate limit
   * passes the whole pipeline without a promise or a microtask; only authentication of a credential,
   * the rate-limit store and idempotency keys wait. Hooks for a policy no policy set enables
   * (idempotency, concurrency) are not registered at all.
   */
  install(app: FastifyInstance): void {
    app.decorateRequest('clientIp', '');
    // Reference-type defaults would be shared by all requests; each request gets its own in onRequest.
    // (Fastify's GetterSetter typing cannot take a union of object types, hence the loose call.)
    (app.decorateRequest as (name: string, value: null) => void).call(app, 'principal', null);
    app.decorateRequest('policies', undefined as unknown as EffectivePolicies);
    app.addHook('onRequest', (request, reply, done) => {
      let waiting: Promise<void> | typeof ANSWERED | undefined;
      try {
        waiting = this.#onRequest(request, reply);
      } catch (error) {
        done(error as Error);
        return;
      }
      if (waiting === undefined) done();
      // A preflight answered here: the chain stops (as Fastify stops it for a sent reply), no `done`.
      else if (waiting === ANSWERED) return;
      else waiting.then(() => done(), failed(done));
    });
    const sets = this.#policies.all();
    if (sets.some((set) => set.idempotency.enabled)) {
      app.addHook('preHandler', (request, reply, done) => {
        const settings = request.policies.idempotency;
        if (!settings.enabled) {
          done();
          return;
        }
        // `routeOptions` builds an object per read: asked only for a method that could claim a key.
        if (
          !(settings.methods as readonly string[]).includes(request.method) ||
          request.routeOptions.config.idempotency === false
        ) {
          // What `IdempotencyPolicy.before` does for such a method: nothing, and the key is not claimed.
          if (request.headers['idempotency-key'] !== undefined) this.#count('idempotency', 'executed');
          done();
          return;
        }
        const scope = callerScope(request.principal, request.clientIp);
        this.#idempotency.before(request, reply, settings, scope).then((answered) => {
          if (request.headers['idempotency-key'] !== undefined)
            this.#count('idempotency', answered ? 'replayed' : 'executed');
          done();
        }, failed(done));
      });
    }
    const securityHeadersOn = this.#config.gateway.securityHeaders.enabled;
    app.addHook('onSend', (request, reply, payload, done) => {
      if (request.idempotency === undefined) {
        if (securityHeadersOn) addSecurityHeaders(reply);
        done();
        return;
      }
      this.#idempotency.after(request, reply, payload).then(() => {
        if (securityHeadersOn) addSecurityHeaders(reply);
        done();
      }, failed(done));
    });
    if (sets.some((set) => set.concurrency.maxInFlight > 0)) {
      const release = (request: FastifyRequest) => {
        const held = (request as FastifyRequest & { [CONCURRENCY_SLOT]?: ConcurrencyLimit })[
          CONCURRENCY_SLOT
        ];
        if (held) {
          held.release();
          (request as FastifyRequest & { [CONCURRENCY_SLOT]?: ConcurrencyLimit })[CONCURRENCY_SLOT] =
            undefined;
        }
      };
      app.addHook('onResponse', (request, _reply, done) => {
        release(request);
        done();
      });
      app.addHook('onRequestAbort', (request, done) => {
        release(request);
        done();
      });
    }
  }

  /**
   * The pipeline up to the first step that must wait: undefined when the request passed every step,
   * `ANSWERED` when it answered a preflight, a promise of the remaining steps otherwise; throws a
   * refusal.
   */
  #onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> | typeof ANSWERED | undefined {
    const raw = request.raw;
    const method = raw.method ?? 'GET';
    const policies = this.#policies.hasOverrides
      ? this.#policies.resolve(method, pathOf(raw.url ?? '/'))
      : this.#policies.defaults;
    request.policies = policies;
    request.principal = ANONYMOUS;
    const headers = request.headers;
    const clientIp = this.#clientIp(raw.socket, headers);
    request.clientIp = clientIp;

    // 1. IP rules
    const sets = this.#ipSets.get(policies.overrideIndex);
    if (sets && (sets.allow || sets.deny) && decideIp(clientIp, sets) === 'deny') {
      this.#count('ip', 'denied');
      throw new GroundworkError('GATEWAY_ERR_IP_DENIED', {
        detail: 'Requests from this address are not allowed.',
      });
    }

    // 2. CORS: a preflight is answered here; an actual request gets its headers now (kept on errors too).
    if (policies.cors.enabled) {
      const origin = headers.origin;
      const cors = evaluateCors(this.#cors, {
        method,
        ...(typeof origin === 'string' ? { origin } : {}),
        ...(typeof headers['access-control-request-method'] === 'string'
          ? { accessControlRequestMethod: headers['access-control-request-method'] }
          : {}),
        ...(typeof headers['access-control-request-headers'] === 'string'
          ? { accessControlRequestHeaders: headers['access-control-request-headers'] }
          : {}),
      });
      setMerged(reply, cors.headers);
      if (cors.kind !== 'none') this.#count('cors', cors.allowed ? 'allowed' : 'refused');
      if (cors.kind === 'preflight') {
        reply
          .code(cors.allowed ? 204 : 403)
          .header('content-length', '0')
          .send();
        return ANSWERED;
      }
    }

    // 3. Authentication (credentials come only in Authorization and Cookie: without either the
    // caller is anonymous, no need to ask), then 4. the rate limit; both may wait.
    const authenticate =
      this.#authenticator !== undefined &&
      (headers.authorization !== undefined || headers.cookie !== undefined);
    if (authenticate || policies.rateLimit.enabled)
      return this.#waitingSteps(request, reply, policies, authenticate);
    this.#admit(request, policies, undefined);
    return undefined;
  }

  /** Steps 3 and 4 when one of them waits, then the rest. Bad credentials are refused after the rate limit (so guessing is throttled). */
  async #waitingSteps(
    request: FastifyRequest,
    reply: FastifyReply,
    policies: EffectivePolicies,
    authenticate: boolean,
  ): Promise<void> {
    // 3. Authentication.
    let authError: GroundworkError | undefined;
    if (authenticate) {
      const result = await this.#authenticator!.authenticate({
        method: request.method,
        headers: request.headers,
        secure: request.protocol === 'https',
      });
      request.principal = result.principal;
      authError = result.error;
    }

    // 4. Rate limit
    if (policies.rateLimit.enabled) {
      const decision = await this.#rateLimits.check(request, policies);
      reply.headers(decision.headers);
      if (decision.degraded) this.#count('ratelimit', 'store-error');
      if (!decision.allowed) {
        this.#count('ratelimit', 'limited');
        if (decision.degraded) {
          throw new GroundworkError('GATEWAY_ERR_OVERLOADED', {
            detail: 'Rate limits cannot be checked right now; retry later.',
            headers: { 'retry-after': '1' },
          });
        }
        throw new GroundworkError('GATEWAY_ERR_RATE_LIMITED', {
          detail: `Rate limit "${decision.policyName}" exceeded.`,
          headers: { 'retry-after': String(decision.retryAfterS) },
        });
      }
      this.#count('ratelimit', 'allowed');
    }
    this.#admit(request, policies, authError);
  }

  /** Steps 5 (concurrency) and 6 (authorization of the route); throws a refusal. */
  #admit(request: FastifyRequest, policies: EffectivePolicies, authError: GroundworkError | undefined): void {
    // `routeOptions` is a getter that builds a new object on every read: read it once.
    const routeOptions = request.routeOptions;

    // 5. Concurrency limit (load shedding), per route template and method.
    if (policies.concurrency.maxInFlight > 0) {
      const key = `${request.method} ${routeOptions.url ?? '(unmatched)'}`;
      let limit = this.#concurrency.get(key);
      if (!limit) {
        limit = new ConcurrencyLimit(policies.concurrency.maxInFlight);
        this.#concurrency.set(key, limit);
      }
      if (!limit.tryAcquire()) {
        this.#count('concurrency', 'shed');
        throw new GroundworkError('GATEWAY_ERR_OVERLOADED', {
          detail: 'Too many requests are in progress on this route; retry later.',
          headers: { 'retry-after': String(policies.concurrency.retryAfterS) },
        });
      }
      (request as FastifyRequest & { [CONCURRENCY_SLOT]?: ConcurrencyLimit })[CONCURRENCY_SLOT] = limit;
    }

    // 6. Authorization of the route itself: admin-only routes refuse everyone else here.
    if (authError) {
      this.#count('auth', 'invalid');
      throw authError;
    }
    const access = routeOptions.config?.access;
    const principal = request.principal;
    if (access === 'admin' && (principal.kind !== 'admin' || principal.scopes !== undefined)) {
      this.#count('auth', 'denied');
      throw adminRequired(principal);
    }
    if (access === 'user' && principal.kind !== 'user') {
      this.#count('auth', 'denied');
      throw principal.kind === 'anonymous'
        ? new GroundworkError('AUTH_ERR_UNAUTHENTICATED', {
            detail: 'Sign in first: send a session cookie or Authorization: Bearer <access token>.',
            headers: { 'www-authenticate': 'Bearer' },
          })
        : new GroundworkError('AUTH_ERR_FORBIDDEN', { detail: 'Only signed-in users may do this.' });
    }
  }

  /**
   * The client IP (`clientIp` of ip-rules.ts). The peer's address and whether it is a trusted proxy
   * are found once per connection; the forwarding headers are read only from a trusted peer.
   */
  #clientIp(socket: Socket | undefined, headers: FastifyRequest['headers']): string {
    const peer = this.#peerOf(socket);
    const xForwardedFor = headers['x-forwarded-for'];
    const forwarded = headers.forwarded;
    if (!peer.trusted || (xForwardedFor === undefined && forwarded === undefined)) return peer.address;
    return clientIp({ remoteAddress: peer.address, xForwardedFor, forwarded, trustedProxies: this.#trusted });
  }

  #peerOf(socket: Socket | undefined): PeerInfo {
    const holder = socket as (Socket & { [PEER]?: PeerInfo }) | undefined;
    let info = holder?.[PEER];
    if (info === undefined) {
      const address = normalizeIp(socket?.remoteAddress ?? '');
      info = { address, trusted: this.#trusted.contains(address) };
      // A socket that has gone away has no address: do not remember that.
      if (holder !== undefined && address !== '') holder[PEER] = info;
    }
    return info;
  }

  /** Counts a decision; each (policy, outcome) child is looked up once (`labels()` allocates per call). */
  #count(policy: string, outcome: string): void {
    let byOutcome = this.#decisionChildren.get(policy);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      this.#decisionChildren.set(policy, byOutcome);
    }
    let child = byOutcome.get(outcome);
    if (child === undefined) {
      child = this.#decisions.labels(policy, outcome);
      byOutcome.set(outcome, child);
    }
    child.inc();
  }

  async start(): Promise<void> {
    await this.#rateLimits.start();
    const interval = this.#config.gateway.idempotency.sweepIntervalMs;
    this.#sweeper = setInterval(() => {
      this.#idempotencyStore.sweep(Date.now(), 1_000).catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'idempotency key sweep failed');
      });
    }, interval);
    this.#sweeper.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#rateLimits.close();
  }
}

type DecisionCounter = ReturnType<Counter<'policy' | 'outcome'>['labels']>;

const CONCURRENCY_SLOT = Symbol('groundwork.concurrencySlot');

/** `#onRequest` answered the request itself (a CORS preflight). */
const ANSWERED = Symbol('groundwork.gatewayAnswered');

/** Per-connection cache of the peer's normalised address and whether it is a trusted proxy. */
const PEER = Symbol('groundwork.gatewayPeer');
type PeerInfo = { readonly address: string; readonly trusted: boolean };

/**
 * A hook's `done` for a rejected promise. As for an async hook, a rejection without a reason is still
 * an error (`done(undefined)` would carry on as if the step had passed).
 */
function failed(done: (error?: Error) => void): (reason: unknown) => void {
  return (reason) =>
    done(reason instanceof Error ? reason : new Error(`gateway: rejected with ${String(reason)}`));
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The default security headers for the response's type; a route's own choice (e.g. a CSP for an HTML page it serves) wins. */
function addSecurityHeaders(reply: FastifyReply): void {
  const contentType = reply.getHeader('content-type');
  const headers = defaultSecurityHeaders(typeof contentType === 'string' ? contentType : undefined);
  for (const name in headers) if (!reply.hasHeader(name)) reply.header(name, headers[name]!);
}

/** Sets headers, merging `Vary` with what the reply already varies on instead of replacing it. */
function setMerged(reply: FastifyReply, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    reply.header(name, name === 'vary' ? mergeVary(reply.getHeader('vary'), value) : value);
  }
}
