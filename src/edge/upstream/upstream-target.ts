/**
 * One upstream target as the edge holds it: its address, an undici `Pool` of keep-alive connections
 * to it (pipelining off by default), its circuit breaker, its metrics counters, and the fields the
 * balancer reads (`available`, `weightFactor`), which the group rewrites when health checks,
 * outlier detection, the breaker or slow start change them (then calls `setTargets` again).
 */
import { Pool } from 'undici';
import type { Target } from '../balancers/balancer.js';
import type { EdgeGroupConfig } from '../edge-config.js';
import type { TargetStats } from '../edge-metrics.js';
import { CircuitBreaker, type CircuitBreakerOptions } from '../health/circuit-breaker.js';

export interface UpstreamTargetSpec {
  /** Stable id within the group: `host:port` (plus the base path, if any). */
  readonly id: string;
  /** `http(s)://host:port`, without a path. */
  readonly origin: string;
  /** Prepended to every proxied path; '' or `/base` (no trailing slash). */
  readonly basePath: string;
  readonly weight: number;
}

export class UpstreamTarget implements Target {
  readonly id: string;
  /** `origin` + `basePath`. */
  readonly address: string;
  readonly origin: string;
  readonly basePath: string;
  /** `host:port` of the target, the `Host` sent when the group does not preserve the client's. */
  readonly authority: string;
  weight: number;
  /** In the balancer's choice (healthy, not ejected, breaker not open). */
  available = true;
  /** Slow-start share of `weight`, (0, 1]. */
  weightFactor = 1;
  /** The active health check's verdict (true when there is none). */
  healthy = true;
  /** When the current slow-start ramp began; undefined when the target is at full weight. */
  rampSinceMs: number | undefined;
  readonly pool: Pool;
  readonly breaker: CircuitBreaker | undefined;
  readonly stats: TargetStats;

  constructor(
    spec: UpstreamTargetSpec,
    config: EdgeGroupConfig,
    stats: TargetStats,
    breakerOptions: CircuitBreakerOptions | undefined,
  ) {
    this.id = spec.id;
    this.origin = spec.origin;
    this.basePath = spec.basePath;
    this.address = spec.origin + spec.basePath;
    this.authority = new URL(spec.origin).host;
    this.weight = spec.weight;
    this.stats = stats;
    this.breaker = breakerOptions === undefined ? undefined : new CircuitBreaker(breakerOptions);
    const pool = config.pool;
    this.pool = new Pool(spec.origin, {
      connections: pool.connections,
      pipelining: pool.pipelining,
      keepAliveTimeout: pool.keepAliveTimeoutMs,
      // The proxy times each try itself (time to the response head) and sets the body idle
      // timeout per request; the pool's own defaults would cut long requests at 300 s.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { timeout: pool.connectTimeoutMs, rejectUnauthorized: pool.rejectUnauthorized },
    });
  }

  /** The breaker's state now ('closed' when the group has none). */
  get circuit(): 'closed' | 'open' | 'half-open' {
    return this.breaker?.state ?? 'closed';
  }
}

/**
 * The spec of a configured target URL: `http://10.0.0.5:8080/base/` → id `10.0.0.5:8080/base`,
 * origin `http://10.0.0.5:8080`, base path `/base`.
 */
export function targetSpec(url: string, weight: number): UpstreamTargetSpec {
  const parsed = new URL(url);
  const basePath = parsed.pathname.replace(/\/+$/, '');
  return { id: parsed.host + basePath, origin: parsed.origin, basePath, weight };
}
