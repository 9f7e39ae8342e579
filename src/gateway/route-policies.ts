import type { GroundworkConfig } from '../core/config.js';

type GatewayConfig = GroundworkConfig['gateway'];
type RouteOverride = GatewayConfig['routes'][number];

/** The policies in force for one request, after per-route overrides. */
export interface EffectivePolicies {
  ipRules: GatewayConfig['ipRules'];
  cors: { enabled: boolean };
  rateLimit: GatewayConfig['rateLimit'];
  concurrency: GatewayConfig['concurrency'];
  idempotency: GatewayConfig['idempotency'];
  /** Index of the override that matched, -1 for the global defaults (keys caches and limiters). */
  overrideIndex: number;
}

/**
 * Resolves the policies for a method and path: global defaults, then the first entry of
 * `gateway.routes` whose path pattern (exact, or prefix ending in `*`) and methods match, each
 * policy's fields overriding the global ones.
 */
export class RoutePolicies {
  readonly #global: GatewayConfig;
  /** The global defaults as one policy set, made once (every request without an override gets it). */
  readonly #defaults: EffectivePolicies;
  readonly #resolved: EffectivePolicies[];

  constructor(gateway: GatewayConfig) {
    this.#global = gateway;
    this.#defaults = {
      ipRules: gateway.ipRules,
      cors: { enabled: gateway.cors.enabled },
      rateLimit: gateway.rateLimit,
      concurrency: gateway.concurrency,
      idempotency: gateway.idempotency,
      overrideIndex: -1,
    };
    this.#resolved = gateway.routes.map((override, index) => this.#merge(override, index));
  }

  /** The global defaults (no override matched). */
  get defaults(): EffectivePolicies {
    return this.#defaults;
  }

  /** False when `gateway.routes` is empty: every request gets the global defaults, whatever its path. */
  get hasOverrides(): boolean {
    return this.#resolved.length > 0;
  }

  resolve(method: string, path: string): EffectivePolicies {
    const routes = this.#global.routes;
    for (let i = 0; i < routes.length; i++) {
      if (matches(routes[i]!, method, path)) return this.#resolved[i]!;
    }
    return this.#defaults;
  }

  /** Every distinct policy set (for building one limiter per set at start-up). */
  all(): EffectivePolicies[] {
    return [this.#defaults, ...this.#resolved];
  }

  #merge(override: RouteOverride, index: number): EffectivePolicies {
    const g = this.#global;
    return {
      ipRules: { ...g.ipRules, ...override.ipRules },
      cors: { enabled: override.cors?.enabled ?? g.cors.enabled },
      rateLimit: { ...g.rateLimit, ...override.rateLimit },
      concurrency: { ...g.concurrency, ...override.concurrency },
      idempotency: { ...g.idempotency, ...override.idempotency },
      overrideIndex: index,
    };
  }
}

function matches(route: RouteOverride, method: string, path: string): boolean {
  if (route.methods && !route.methods.some((m) => m.toUpperCase() === method)) return false;
  return route.path.endsWith('*') ? path.startsWith(route.path.slice(0, -1)) : path === route.path;
}
