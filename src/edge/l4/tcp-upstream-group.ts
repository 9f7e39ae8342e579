/**
 * The upstream group of one L4 route: which targets may take a new connection, and the bookkeeping
 * behind that choice. It composes the edge's existing mechanisms and adds no policy of its own:
 *
 * - membership through a `TargetSet`: a target removed by `setTargets` takes no new connection and
 *   drains (its open connections run on until `drainTimeoutMs`, then `onDrainTimeout` cuts them);
 * - the route's `Balancer` over the active targets, with `available: false` for the ones the active
 *   health checker has down;
 * - an `ActiveHealthChecker` probing each target with a TCP connect (`probeTcp`);
 * - an `OutlierDetector` fed with every connect's outcome (passive checks): targets whose connects
 *   keep failing are ejected between probes, and are excluded from picks while ejected. A passing
 *   health check lets an ejected target back at once.
 *
 * L4 has no responses: an established connection is reported to the outlier detector as a passing
 * answer (`response 200`), which ends a run of connect failures.
 */
import type { Balancer, PickContext, RequestOutcome, Target } from '../balancers/balancer.js';
import { createBalancer } from '../balancers/create-balancer.js';
import {
  ActiveHealthChecker,
  CONNECT_FAILURE,
  type HealthTransition,
  OutlierDetector,
  type OutlierEvent,
  probeTcp,
  responseOutcome,
  type Scheduler,
  systemScheduler,
  TargetSet,
} from '../health/index.js';
import { parseTcpAddress, type TcpRouteConfig, type TcpTargetConfig } from './tcp-config.js';

/** A target as the route's balancer holds it; `id` is the configured address. */
export interface TcpTarget extends Target {
  readonly host: string;
  readonly port: number;
}

/** One target's state, for `TcpRoute.targets()`, metrics and the dashboard. */
export interface TcpTargetStatus {
  readonly id: string;
  readonly weight: number;
  /** Up according to the active health check (always true when checks are off). */
  readonly healthy: boolean;
  readonly ejected: boolean;
  /** Removed from the group, still carrying connections. */
  readonly draining: boolean;
  readonly activeConnections: number;
}

export interface TcpUpstreamGroupOptions {
  readonly scheduler?: Scheduler | undefined;
  /** Health changes (`healthy`) and outlier events, for logs. Must not throw. */
  readonly onHealthChange?: ((transition: HealthTransition<TcpTarget>) => void) | undefined;
  readonly onOutlierEvent?: ((event: OutlierEvent) => void) | undefined;
  /** A removed target's drain timed out: cut its connections. */
  readonly onDrainTimeout?: ((id: string) => void) | undefined;
}

/** Reported for an established connection (see the file header). */
const CONNECTED = responseOutcome(200);

function toTarget(config: TcpTargetConfig): TcpTarget {
  const { host, port } = parseTcpAddress(config.address);
  return { id: config.address, address: config.address, weight: config.weight, host, port };
}

export class TcpUpstreamGroup {
  readonly #balancer: Balancer<TcpTarget>;
  readonly #members: TargetSet<TcpTarget>;
  readonly #checker: ActiveHealthChecker<TcpTarget> | undefined;
  readonly #outliers: OutlierDetector;
  /** Open (or connecting) connections per target id, draining targets included. */
  readonly #open = new Map<string, number>();
  #stopped = false;

  constructor(config: TcpRouteConfig, options: TcpUpstreamGroupOptions = {}) {
    const scheduler = options.scheduler ?? systemScheduler;
    const { healthCheck, outlierDetection } = config;
    this.#balancer = createBalancer<TcpTarget>(config.balancer, { targets: [] });
    this.#members = new TargetSet<TcpTarget>({
      // TargetSet reads 0 as "wait for ever"; for a route 0 means "cut at once".
      drainTimeoutMs: Math.max(1, config.drainTimeoutMs),
      scheduler,
      onDrained: (id, _target, result) => {
        if (result.reason === 'timeout') options.onDrainTimeout?.(id);
      },
    });
    this.#outliers = new OutlierDetector({
      consecutive5xx: 0,
      consecutiveLocalOriginFailures: outlierDetection.consecutiveConnectFailures,
      baseEjectionMs: outlierDetection.baseEjectionMs,
      maxEjectionMs: outlierDetection.maxEjectionMs,
      maxEjectionPercent: outlierDetection.maxEjectionPercent,
      clock: () => scheduler.now(),
      onEvent: options.onOutlierEvent,
    });
    if (healthCheck.enabled) {
      this.#checker = new ActiveHealthChecker<TcpTarget>({
        probe: (target, signal) => probeTcp(target.host, target.port, { signal }),
        intervalMs: healthCheck.intervalMs,
        unhealthyIntervalMs: healthCheck.unhealthyIntervalMs ?? healthCheck.intervalMs,
        timeoutMs: healthCheck.timeoutMs,
        healthyThreshold: healthCheck.healthyThreshold,
        unhealthyThreshold: healthCheck.unhealthyThreshold,
        scheduler,
        onTransition: (transition) => {
          if (transition.healthy) this.#outliers.uneject(transition.id);
          this.#rebuild();
          options.onHealthChange?.(transition);
        },
      });
    }
    this.#apply(config.targets);
  }

  /**
   * Makes the group exactly `targets` (e.g. after a config reload): new ones are added (healthy
   * until their probes say otherwise), missing ones drain. Targets kept keep their health, ejection
   * and connection counts.
   */
  setTargets(targets: readonly TcpTargetConfig[]): void {
    if (this.#stopped) return;
    this.#apply(targets);
  }

  /**
   * A target for a new connection from `clientIp`: active, up, not ejected and not in `tried`;
   * undefined when there is none.
   */
  pick(clientIp: string | undefined, tried: ReadonlySet<string>): TcpTarget | undefined {
    const ejected = this.#outliers.ejected();
    let exclude: ReadonlySet<string> = tried;
    if (ejected.length > 0) exclude = new Set([...tried, ...ejected]);
    const context: PickContext = { clientIp, exclude };
    return this.#balancer.pick(context);
  }

  /**
   * Starts a connection attempt to `target` (counted by the balancer and the drain): the function
   * that ends it, or undefined when the target was removed since the pick.
   */
  begin(target: TcpTarget): ((outcome: RequestOutcome) => void) | undefined {
    const release = this.#members.acquire(target.id);
    if (release === undefined) return undefined;
    this.#balancer.onStart(target);
    this.#open.set(target.id, (this.#open.get(target.id) ?? 0) + 1);
    let ended = false;
    return (outcome) => {
      if (ended) return;
      ended = true;
      const open = (this.#open.get(target.id) ?? 1) - 1;
      if (open === 0) this.#open.delete(target.id);
      else this.#open.set(target.id, open);
      this.#balancer.onEnd(target, outcome);
      release();
    };
  }

  /** Reports how a connect to `id` ended, for passive health checking. */
  reportConnect(id: string, ok: boolean): void {
    this.#outliers.record(id, ok ? CONNECTED : CONNECT_FAILURE);
  }

  isHealthy(id: string): boolean {
    return this.#checker === undefined ? this.#members.has(id) : this.#checker.isHealthy(id);
  }

  /** Active and draining targets, in group order (draining last). */
  status(): TcpTargetStatus[] {
    const ejected = new Set(this.#outliers.ejected());
    const out: TcpTargetStatus[] = [];
    for (const { id, target } of this.#members.active) {
      out.push({
        id,
        weight: target.weight,
        healthy: this.isHealthy(id),
        ejected: ejected.has(id),
        draining: false,
        activeConnections: this.#open.get(id) ?? 0,
      });
    }
    for (const id of this.#members.draining()) {
      out.push({
        id,
        weight: 0,
        healthy: false,
        ejected: false,
        draining: true,
        activeConnections: this.#open.get(id) ?? 0,
      });
    }
    return out;
  }

  /** Stops the health checks (their timers and probes in flight). */
  stop(): void {
    this.#stopped = true;
    this.#checker?.stop();
  }

  #apply(configs: readonly TcpTargetConfig[]): void {
    const targets = configs.map(toTarget);
    const { removed } = this.#members.update(targets.map((t) => [t.id, t] as const));
    for (const id of removed) this.#checker?.remove(id);
    for (const target of targets) this.#checker?.add(target.id, target);
    this.#outliers.setTargets(targets.map((t) => t.id));
    this.#rebuild();
  }

  /** Feeds the balancer the active targets with their current health. */
  #rebuild(): void {
    this.#balancer.setTargets(
      this.#members.active.map(({ id, target }) => ({ ...target, available: this.isHealthy(id) })),
    );
  }
}
