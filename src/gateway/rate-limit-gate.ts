import type { FastifyRequest } from 'fastify';
import type { Logger } from '../core/logger.js';
import { MemoryRateLimitStore } from '../ratelimit/drivers/memory-store.js';
import { RedisRateLimitStore } from '../ratelimit/drivers/redis-store.js';
import { formatRateLimitPolicy, formatRateLimits, retryAfterSeconds } from '../ratelimit/headers.js';
import type { RateLimitStore } from '../ratelimit/rate-limit-store.js';
import { RateLimiter } from '../ratelimit/rate-limiter.js';
import type { EffectivePolicies } from './route-policies.js';

export interface GateDecision {
  allowed: boolean;
  /** The store failed and the fail mode decided. */
  degraded: boolean;
  headers: Record<string, string>;
  retryAfterS: number;
  policyName: string;
}

/**
 * Connects the rate limiter to the pipeline: one store per distinct `storeUrl` (memory when none),
 * one `RateLimiter` per policy set that limits, and the caller key built from
 * `gateway.rateLimit.key` (ip, user, api-key, route; user/api-key fall back to ip when anonymous).
 */
export class RateLimitGate {
  readonly #stores = new Map<string, RateLimitStore & { start?: () => Promise<void> }>();
  readonly #limiters = new Map<number, GateLimiter>();
  readonly #logger: Logger;

  constructor(sets: readonly EffectivePolicies[], logger: Logger) {
    this.#logger = logger;
    for (const set of sets) {
      const config = set.rateLimit;
      if (!config.enabled) continue;
      const storeId = `${config.storeUrl ?? 'memory'}|${config.keyPrefix}`;
      let store = this.#stores.get(storeId);
      if (!store) {
        store = config.storeUrl
          ? new RedisRateLimitStore({ url: config.storeUrl, keyPrefix: config.keyPrefix })
          : new MemoryRateLimitStore();
        this.#stores.set(storeId, store);
      }
      this.#limiters.set(set.overrideIndex, {
        limiter: new RateLimiter({
          store,
          policies: config.policies,
          failMode: config.failMode,
          onStoreError: (error) =>
            this.#logger.warn({ code: error.code }, 'rate-limit store failed; deciding by failMode'),
        }),
        // The same on every response of the set: formatted once.
        policyHeader: formatRateLimitPolicy(config.policies),
        onlyIp: config.key.length > 0 && config.key.every((part) => part === 'ip'),
      });
    }
  }

  async start(): Promise<void> {
    for (const store of this.#stores.values()) {
      // A store that is down at start-up is not fatal: requests are decided by failMode and the
      // client keeps reconnecting in the background.
      await store.start?.().catch((error: unknown) => {
        this.#logger.warn(
          { err: { message: (error as Error).message } },
          'rate-limit store unreachable at start-up',
        );
      });
    }
  }

  async check(request: FastifyRequest, policies: EffectivePolicies): Promise<GateDecision> {
    const gate = this.#limiters.get(policies.overrideIndex);
    if (!gate) return { allowed: true, degraded: false, headers: {}, retryAfterS: 0, policyName: '' };
    const key = gate.onlyIp
      ? `${policies.overrideIndex}|ip=${request.clientIp}`
      : callerKey(request, policies);
    const result = await gate.limiter.check(key);
    // `rateLimitHeaders(result, policies)` of ratelimit/headers.ts, with the policy field made once.
    const headers: Record<string, string> = { 'ratelimit-policy': gate.policyHeader };
    if (!result.degraded) {
      headers.ratelimit = formatRateLimits(result.decisions);
      if (!result.allowed) headers['retry-after'] = String(retryAfterSeconds(result.decision.retryAfterMs));
    }
    if (result.degraded) {
      return { allowed: result.allowed, degraded: true, headers, retryAfterS: 1, policyName: '' };
    }
    return {
      allowed: result.allowed,
      degraded: false,
      headers,
      retryAfterS: Math.max(1, retryAfterSeconds(result.decision.retryAfterMs)),
      policyName: result.decision.policy.name,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#stores.values()].map((store) => store.close()));
  }
}

interface GateLimiter {
  readonly limiter: RateLimiter;
  /** The `RateLimit-Policy` field value of the set's policies. */
  readonly policyHeader: string;
  /** The caller key is the client IP alone (`key: ['ip']`, the default): `callerKey` without the lists. */
  readonly onlyIp: boolean;
}

function callerKey(request: FastifyRequest, policies: EffectivePolicies): string {
  const principal = request.principal;
  const parts = policies.rateLimit.key.map((part) => {
    switch (part) {
      case 'ip':
        return `ip=${request.clientIp}`;
      case 'user':
        return principal.kind === 'user' ? `user=${principal.id}` : `ip=${request.clientIp}`;
      case 'api-key':
        return principal.kind !== 'anonymous' && principal.keyId !== undefined
          ? `key=${principal.keyId}`
          : `ip=${request.clientIp}`;
      default:
        return `route=${request.method} ${request.routeOptions.url ?? '(unmatched)'}`;
    }
  });
  // The override index keeps limits of different route groups apart even with equal keys.
  return `${policies.overrideIndex}|${[...new Set(parts)].join('|')}`;
}
