import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter } from 'prom-client';
import { type Authenticator, adminRequired } from '../auth/authenticator.js';
import type { ResolvedConfig } from '../core/config.js';
import { GroundworkError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Database } from '../db/database.js';
import { ConcurrencyLimit } from './concurrency-limit.js';
import { type CompiledCors, compileCors, evaluateCors } from './cors.js';
import { IdempotencyPolicy } from './idempotency/idempotency-policy.js';
import { SqlIdempotencyStore } from './idempotency/sql-idempotency-store.js';
import { CidrSet, clientIp, decideIp } from './ip-rules.js';
import { ANONYMOUS, callerScope } from './principal.js';
import { RateLimitGate } from './rate-limit-gate.js';
import { type EffectivePolicies, RoutePolicies } from './route-policies.js';
import { securityHeaders } from './security-headers.js';

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

  /** Registers the pipeline's hooks; call before routes are added. */
  install(app: FastifyInstance): void {
    app.decorateRequest('clientIp', '');
    // Reference-type defaults would be shared by all requests; each request gets its own in onRequest.
    // (Fastify's GetterSetter typing cannot take a union of object types, hence the loose call.)
    (app.decorateRequest as (name: string, value: null) => void).call(app, 'principal', null);
    app.decorateRequest('policies', undefined as unknown as EffectivePolicies);
    app.addHook('onRequest', (request, reply) => this.#onRequest(request, reply));
    app.addHook('preHandler', async (request, reply) => {
      if (!request.policies.idempotency.enabled) return;
      const scope = callerScope(request.principal, request.clientIp);
      const answered = await this.#idempotency.before(request, reply, request.policies.idempotency, scope);
      if (request.headers['idempotency-key'] !== undefined)
        this.#count('idempotency', answered ? 'replayed' : 'executed');
      if (answered) return reply;
    });
    app.addHook('onSend', async (request, reply, payload) => {
      await this.#idempotency.after(request, reply, payload);
      if (this.#config.gateway.securityHeaders.enabled) {
        const contentType = reply.getHeader('content-type');
        const headers = securityHeaders({
          tls: request.protocol === 'https',
          hstsMaxAgeS: this.#config.server.tls.hstsMaxAgeS,
          ...(typeof contentType === 'string' ? { contentType } : {}),
        });
        // A route's own choice (e.g. a CSP for an HTML page it serves) wins over the default.
        for (const [name, value] of Object.entries(headers))
          if (!reply.hasHeader(name)) reply.header(name, value);
      }
      return payload;
    });
    const release = (request: FastifyRequest) => {
      const held = (request as FastifyRequest & { [CONCURRENCY_SLOT]?: ConcurrencyLimit })[CONCURRENCY_SLOT];
      if (held) {
        held.release();
        (request as FastifyRequest & { [CONCURRENCY_SLOT]?: ConcurrencyLimit })[CONCURRENCY_SLOT] = undefined;
      }
    };
    app.addHook('onResponse', async (request) => release(request));
    app.addHook('onRequestAbort', async (request) => release(request));
  }

  async #onRequest(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const path = request.url.split('?')[0] ?? '/';
    const policies = this.#policies.resolve(request.method, path);
    request.policies = policies;
    request.principal = ANONYMOUS;
    request.clientIp = clientIp({
      remoteAddress: request.socket.remoteAddress ?? '',
      xForwardedFor: request.headers['x-forwarded-for'],
      forwarded: request.headers.forwarded,
      trustedProxies: this.#trusted,
    });

    // 1. IP rules
    const sets = this.#ipSets.get(policies.overrideIndex);
    if (sets && (sets.allow || sets.deny) && decideIp(request.clientIp, sets) === 'deny') {
      this.#count('ip', 'denied');
      throw new GroundworkError('GATEWAY_ERR_IP_DENIED', {
        detail: 'Requests from this address are not allowed.',
      });
    }

    // 2. CORS: a preflight is answered here; an actual request gets its headers now (kept on errors too).
    if (policies.cors.enabled) {
      const origin = request.headers.origin;
      const cors = evaluateCors(this.#cors, {
        method: request.method,
        ...(typeof origin === 'string' ? { origin } : {}),
        ...(typeof request.headers['access-control-request-method'] === 'string'
          ? { accessControlRequestMethod: request.headers['access-control-request-method'] }
          : {}),
        ...(typeof request.headers['access-control-request-headers'] === 'string'
          ? { accessControlRequestHeaders: request.headers['access-control-request-headers'] }
          : {}),
      });
      setMerged(reply, cors.headers);
      if (cors.kind !== 'none') this.#count('cors', cors.allowed ? 'allowed' : 'refused');
      if (cors.kind === 'preflight') {
        return reply
          .code(cors.allowed ? 204 : 403)
          .header('content-length', '0')
          .send();
      }
    }

    // 3. Authentication. Bad credentials are refused after the rate limit (so guessing is throttled).
    let authError: GroundworkError | undefined;
    if (this.#authenticator) {
      const result = await this.#authenticator.authenticate({
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

    // 5. Concurrency limit (load shedding), per route template and method.
    if (policies.concurrency.maxInFlight > 0) {
      const key = `${request.method} ${request.routeOptions.url ?? '(unmatched)'}`;
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
    if (
      request.routeOptions.config?.access === 'admin' &&
      (request.principal.kind !== 'admin' || request.principal.scopes !== undefined)
    ) {
      this.#count('auth', 'denied');
      throw adminRequired(request.principal);
    }
    if (request.routeOptions.config?.access === 'user' && request.principal.kind !== 'user') {
      this.#count('auth', 'denied');
      throw request.principal.kind === 'anonymous'
        ? new GroundworkError('AUTH_ERR_UNAUTHENTICATED', {
            detail: 'Sign in first: send a session cookie or Authorization: Bearer <access token>.',
            headers: { 'www-authenticate': 'Bearer' },
          })
        : new GroundworkError('AUTH_ERR_FORBIDDEN', { detail: 'Only signed-in users may do this.' });
    }
    return undefined;
  }

  #count(policy: string, outcome: string): void {
    this.#decisions.labels(policy, outcome).inc();
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

const CONCURRENCY_SLOT = Symbol('groundwork.concurrencySlot');

/** Sets headers, merging `Vary` with what the reply already varies on instead of replacing it. */
function setMerged(reply: FastifyReply, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    const existing = reply.getHeader(name);
    if (name === 'vary' && typeof existing === 'string' && existing !== '') {
      const seen = new Set(existing.split(',').map((v) => v.trim().toLowerCase()));
      const added = value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => !seen.has(v.toLowerCase()));
      if (added.length > 0) reply.header('vary', `${existing}, ${added.join(', ')}`);
    } else {
      reply.header(name, value);
    }
  }
}
