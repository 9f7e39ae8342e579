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
  readonly #resolved: EffectivePolicies[];

  constructor(gateway: GatewayConfig) {
    this.#global = gateway;
    this.#resolved = gateway.routes.map((override, index) => this.#merge(override, index));
  }

  get #mergeDefaults(): EffectivePolicies {
    return {
      ipRules: this.#global.ipRules,
      cors: { enabled: this.#global.cors.enabled },
      rateLimit: this.#global.rateLimit,
      concurrency: this.#global.concurrency,
      idempotency: this.#global.idempotency,
      overrideIndex: -1,
    };
  }

  resolve(method: string, path: string): EffectivePolicies {
    const index = this.#global.routes.findIndex((route) => matches(route, method, path));
    return index === -1 ? this.#mergeDefaults : this.#resolved[index]!;
  }

  /** Every distinct policy set (for building one limiter per set at start-up). */
  all(): EffectivePolicies[] {
    return [this.#mergeDefaults, ...this.#resolved];
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
