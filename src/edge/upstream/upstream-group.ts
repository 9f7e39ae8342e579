/**
 * One upstream group at run time: the configured mechanisms composed around a balancer.
 *
 * - **Membership**: a `TargetSet` of `UpstreamTarget`s, from the static list (`setTargets`, also the
 *   way to reconfigure a group from outside) or from DNS discovery. A removed target drains: no new
 *   picks, its in-flight requests finish, then its pool is closed (destroyed after the drain timeout).
 * - **Availability** of each member for the balancer: active health check up, not ejected by outlier
 *   detection, circuit breaker not open; and its slow-start `weightFactor` after it joined or came
 *   back. These change on events (a health transition, an ejection, a breaker trip) and with time (an
 *   ejection or a cool-down ending, a ramp step); `pick` re-reads them when an event marked the group
 *   dirty or the earliest of those times has come, so a pick is O(1) otherwise, with no timers.
 * - **Per try**: `pick` chooses an available target outside the request's exclude set whose breaker
 *   grants a permit and which is not draining, counts it in flight, and returns how to end it;
 *   `record` feeds each try's outcome to outlier detection; `end` closes the books.
 * - A **retry budget** per group bounds the extra load retries put on its targets.
 */
import type { Logger } from '../../core/logger.js';
import type { Balancer, PickContext } from '../balancers/balancer.js';
import { createBalancer } from '../balancers/create-balancer.js';
import { StickySessions } from '../balancers/sticky-sessions.js';
import { DnsDiscovery, type DnsTarget, dnsTargetId } from '../discovery/dns-discovery.js';
import type { EdgeGroupConfig } from '../edge-config.js';
import type { EdgeMetrics, TargetGaugeState } from '../edge-metrics.js';
import { ActiveHealthChecker } from '../health/active-health-checker.js';
import type { CircuitBreakerOptions, CircuitPermit } from '../health/circuit-breaker.js';
import { OutlierDetector } from '../health/outlier-detection.js';
import { probeHttp } from '../health/probes.js';
import { RetryBudget } from '../health/retry-budget.js';
import { type Scheduler, systemScheduler } from '../health/scheduler.js';
import { slowStartFactor } from '../health/slow-start.js';
import { TargetSet } from '../health/target-set.js';
import type { UpstreamOutcome } from '../health/upstream-outcome.js';
import { targetSpec, UpstreamTarget, type UpstreamTargetSpec } from './upstream-target.js';

export interface UpstreamGroupOptions {
  name: string;
  config: EdgeGroupConfig;
  metrics: EdgeMetrics;
  logger: Logger;
  /** Timers of health checks, drains and DNS refreshes. Default: real time. */
  scheduler?: Scheduler;
  /** Milliseconds for breakers, outlier detection, the retry budget and slow start. Default `Date.now`. */
  clock?: () => number;
}

/** A granted try: end it exactly once with `UpstreamGroup.end`. */
export interface TargetPick {
  readonly target: UpstreamTarget;
  readonly permit: CircuitPermit | undefined;
  readonly release: () => void;
  /** The sticky cookie value to set, when the request was (re)pinned. */
  readonly setCookie: string | undefined;
}

export interface TargetStatus {
  readonly id: string;
  readonly address: string;
  readonly weight: number;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly circuit: 'closed' | 'open' | 'half-open';
  readonly available: boolean;
  readonly weightFactor: number;
  readonly inFlight: number;
  readonly draining: boolean;
  readonly requests: number;
}

/** Smallest slow-start factor handed to balancers (they need a factor in (0, 1]). */
const MIN_FACTOR = 0.001;

export class UpstreamGroup {
  readonly name: string;
  readonly config: EdgeGroupConfig;
  readonly budget: RetryBudget;
  /** The cookie name when sticky sessions are on. */
  readonly stickyCookie: string | undefined;
  /** The balancer reads the client IP (ip-hash, consistent-hash, maglev): find it for each request. */
  readonly hashesClientIp: boolean;
  readonly #metrics: EdgeMetrics;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #balancer: Balancer<UpstreamTarget>;
  readonly #sticky: StickySessions<UpstreamTarget> | undefined;
  readonly #set: TargetSet<UpstreamTarget>;
  /** Every target not yet closed: active and draining, by id. */
  readonly #known = new Map<string, UpstreamTarget>();
  readonly #outliers: OutlierDetector | undefined;
  readonly #checker: ActiveHealthChecker<UpstreamTarget> | undefined;
  readonly #discovery: DnsDiscovery | undefined;
  readonly #breakerOptions: CircuitBreakerOptions | undefined;
  readonly #slowStartMs: number;
  readonly #slowStartStepMs: number;
  #members: UpstreamTarget[] = [];
  #dirty = true;
  #nextReviewAtMs = 0;
  #started = false;
  #populated = false;

  constructor(options: UpstreamGroupOptions) {
    const { name, config } = options;
    this.name = name;
    this.config = config;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
    const scheduler = options.scheduler ?? systemScheduler;
    const clock = this.#clock;
    this.budget = new RetryBudget({ ...config.retryBudget, clock });
    const balancerConfig = config.balancer;
    const inner = createBalancer<UpstreamTarget>(balancerConfig.algorithm, {
      targets: [],
      ...(balancerConfig.vnodesPerWeight !== undefined
        ? { vnodesPerWeight: balancerConfig.vnodesPerWeight }
        : {}),
      ...(balancerConfig.tableSize !== undefined ? { tableSize: balancerConfig.tableSize } : {}),
      ...(balancerConfig.decayMs !== undefined ? { decayMs: balancerConfig.decayMs } : {}),
    });
    if (config.sticky) {
      this.#sticky = new StickySessions(inner, {
        ...(config.sticky.secret !== undefined ? { secret: config.sticky.secret } : {}),
      });
      this.stickyCookie = config.sticky.cookie;
    }
    // The sticky wrapper forwards setTargets/onStart/onEnd to the inner balancer and indexes cookies.
    this.#balancer = this.#sticky ?? inner;
    const algorithm = balancerConfig.algorithm;
    // consistent-hash and maglev fall back to the client IP when the request lacks its key.
    this.hashesClientIp =
      algorithm === 'ip-hash' || algorithm === 'consistent-hash' || algorithm === 'maglev';
    const cb = config.circuitBreaker;
    this.#breakerOptions = cb.enabled
      ? {
          consecutiveFailures: cb.consecutiveFailures,
          failureRateThreshold: cb.failureRateThreshold,
          minimumRequests: cb.minimumRequests,
          windowMs: cb.windowMs,
          openMs: cb.openMs,
          maxOpenMs: Math.max(cb.maxOpenMs, cb.openMs),
          clock,
          onStateChange: (change) => {
            this.#dirty = true;
            if (change.to === 'open')
              this.#logger.warn({ group: name, ...change }, 'edge: circuit breaker opened');
          },
        }
      : undefined;
    const od = config.outlierDetection;
    this.#outliers = od.enabled
      ? new OutlierDetector({
          consecutive5xx: od.consecutive5xx,
          consecutiveLocalOriginFailures: od.consecutiveLocalOriginFailures,
          baseEjectionMs: od.baseEjectionMs,
          maxEjectionMs: Math.max(od.maxEjectionMs, od.baseEjectionMs),
          maxEjectionPercent: od.maxEjectionPercent,
          clock,
          onEvent: (event) => {
            this.#dirty = true;
            if (event.type === 'ejected') {
              const target = this.#known.get(event.target);
              if (target) target.stats.ejections++;
              this.#logger.warn({ group: name, ...event }, 'edge: target ejected');
            }
          },
        })
      : undefined;
    const hc = config.healthCheck;
    this.#checker = hc
      ? new ActiveHealthChecker<UpstreamTarget>({
          probe: (target, signal) => probeHttp(target.address + hc.path, { signal }),
          intervalMs: hc.intervalMs,
          timeoutMs: hc.timeoutMs,
          healthyThreshold: hc.healthyThreshold,
          unhealthyThreshold: hc.unhealthyThreshold,
          scheduler,
          onTransition: (transition) => {
            transition.target.healthy = transition.healthy;
            if (transition.healthy) this.#outliers?.uneject(transition.id);
            this.#dirty = true;
            this.#logger.info(
              { group: name, target: transition.id, healthy: transition.healthy },
              'edge: target health changed',
            );
          },
        })
      : undefined;
    this.#slowStartMs = config.slowStart.windowMs;
    this.#slowStartStepMs = Math.max(50, Math.min(1_000, this.#slowStartMs / 20));
    this.#set = new TargetSet<UpstreamTarget>({
      drainTimeoutMs: config.drainTimeoutMs,
      scheduler,
      onDrained: (id, target, result) => this.#closeTarget(id, target, result.reason === 'idle'),
    });
    if (config.dns) {
      const dns = config.dns;
      this.#discovery = new DnsDiscovery({
        hostname: dns.hostname,
        port: dns.port,
        families: dns.families,
        ...(dns.servers ? { servers: dns.servers } : {}),
        minTtlMs: dns.minTtlMs,
        maxTtlMs: Math.max(dns.maxTtlMs, dns.minTtlMs),
        scheduler,
        onChange: (targets) => this.#apply(targets.map((t) => dnsSpec(t, dns.scheme))),
        onError: (error) =>
          this.#logger.warn(
            { group: name, err: error.cause },
            'edge: DNS resolution failed; keeping the last good set',
          ),
      });
    } else {
      this.#apply((config.targets ?? []).map((t) => targetSpec(t.url, t.weight)));
    }
  }

  /** Starts health checks (and DNS discovery, waiting for its first answer). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const target of this.#members) this.#checker?.add(target.id, target);
    if (this.#discovery) await this.#discovery.start();
  }

  /** Stops checks and discovery, drains every target and closes its pool. */
  async close(): Promise<void> {
    this.#discovery?.stop();
    this.#checker?.stop();
    await this.#set.drainAll();
    await Promise.all([...this.#known.values()].map((t) => t.pool.destroy().catch(() => undefined)));
    this.#known.clear();
  }

  /**
   * Replaces a static group's targets (adds the new, drains the removed; a kept id keeps its pool,
   * breaker and counters, and takes the new weight).
   */
  setTargets(targets: readonly { url: string; weight?: number }[]): void {
    this.#apply(targets.map((t) => targetSpec(t.url, t.weight ?? 1)));
  }

  /**
   * Chooses a target for one try, or undefined when no available target outside `context.exclude`
   * grants a try. The caller must end a returned pick with `end` exactly once.
   */
  pick(context: PickContext): TargetPick | undefined {
    const now = this.#clock();
    if (this.#dirty || now >= this.#nextReviewAtMs) this.#review(now);
    let ctx = context;
    for (let i = 0; i <= this.#members.length; i++) {
      let target: UpstreamTarget | undefined;
      let setCookie: string | undefined;
      if (this.#sticky !== undefined) {
        const sticky = this.#sticky.pickSticky(ctx);
        target = sticky?.target;
        setCookie = sticky?.setCookie;
      } else {
        target = this.#balancer.pick(ctx);
      }
      if (target === undefined) return undefined;
      const permit = target.breaker?.tryAcquire();
      const release =
        target.breaker === undefined || permit !== undefined ? this.#set.acquire(target.id) : undefined;
      if (release === undefined) {
        permit?.release();
        const exclude = new Set(ctx.exclude);
        exclude.add(target.id);
        ctx = { ...ctx, exclude };
        continue;
      }
      this.#balancer.onStart(target);
      target.stats.inFlight++;
      return { target, permit, release, setCookie };
    }
    return undefined;
  }

  /** Feeds one try's outcome to outlier detection (the breaker gets it through the permit). */
  record(target: UpstreamTarget, outcome: UpstreamOutcome): void {
    this.#outliers?.record(target.id, outcome);
  }

  /** Ends a pick: balancer accounting, in-flight count, latency, drain slot. */
  end(pick: TargetPick, latencyMs: number, ok: boolean): void {
    const target = pick.target;
    this.#balancer.onEnd(target, { latencyMs, ok });
    target.stats.inFlight--;
    target.stats.observe(latencyMs);
    pick.release();
  }

  /** The hash key the balancer reads (`balancer.hashOn`), or undefined to hash the client IP. */
  hashKey(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    params: Readonly<Record<string, string>>,
  ): string | undefined {
    const on = this.config.balancer.hashOn;
    if (on === undefined || 'clientIp' in on) return undefined;
    if ('header' in on) {
      const value = headers[on.header.toLowerCase()];
      return value === undefined ? undefined : typeof value === 'string' ? value : value.join(', ');
    }
    if ('cookie' in on) return cookieValue(headers.cookie, on.cookie);
    return params[on.param];
  }

  /** Every member, for `status` pages and the cluster launcher. */
  status(): TargetStatus[] {
    const now = this.#clock();
    if (this.#dirty || now >= this.#nextReviewAtMs) this.#review(now);
    const active = new Set(this.#members);
    return [...this.#known.values()].map((t) => ({
      id: t.id,
      address: t.address,
      weight: t.weight,
      healthy: t.healthy,
      ejected: this.#outliers?.isEjected(t.id) ?? false,
      circuit: t.circuit,
      available: active.has(t) && t.available,
      weightFactor: t.weightFactor,
      inFlight: t.stats.inFlight,
      draining: !active.has(t),
      requests: Object.values(t.stats.outcomes).reduce((a, b) => a + b, 0),
    }));
  }

  /** For the metrics scrape. */
  *gaugeStates(): Iterable<TargetGaugeState> {
    for (const t of this.#known.values()) {
      yield {
        group: this.name,
        target: t.id,
        stats: t.stats,
        healthy: t.healthy,
        available: t.available,
        weightFactor: t.weightFactor,
        circuit: t.circuit,
      };
    }
  }

  #apply(specs: readonly UpstreamTargetSpec[]): void {
    // The first set (static config, or DNS's first answer) serves at full weight at once.
    const initial = !this.#populated;
    if (specs.length > 0) this.#populated = true;
    const now = this.#clock();
    const entries: [string, UpstreamTarget][] = [];
    for (const spec of specs) {
      let target = this.#known.get(spec.id);
      if (target === undefined) {
        target = new UpstreamTarget(
          spec,
          this.config,
          this.#metrics.stats(this.name, spec.id),
          this.#breakerOptions,
        );
        if (!initial && this.#slowStartMs > 0) target.rampSinceMs = now;
        this.#known.set(spec.id, target);
      } else if (target.weight !== spec.weight) {
        target.weight = spec.weight;
      }
      entries.push([spec.id, target]);
    }
    const { added, removed } = this.#set.update(entries);
    for (const id of removed) this.#checker?.remove(id);
    if (this.#started) for (const id of added) this.#checker?.add(id, this.#known.get(id)!);
    this.#members = this.#set.active.map((a) => a.target);
    this.#outliers?.setTargets(this.#members.map((t) => t.id));
    this.#balancer.setTargets(this.#members);
    this.#dirty = true;
  }

  /** Re-reads every member's availability and slow-start factor; rebuilds the balancer on change. */
  #review(now: number): void {
    this.#dirty = false;
    let next = Number.POSITIVE_INFINITY;
    let changed = false;
    for (const t of this.#members) {
      const breaker = t.breaker;
      const open = breaker !== undefined && breaker.state === 'open';
      if (open) next = Math.min(next, breaker.openUntilMs ?? now);
      let ejected = false;
      const outliers = this.#outliers;
      if (outliers?.isEjected(t.id)) {
        ejected = true;
        next = Math.min(next, outliers.status(t.id)?.ejectedUntilMs ?? now);
      }
      const available = t.healthy && !ejected && !open;
      if (available && !t.available && this.#slowStartMs > 0) t.rampSinceMs = now;
      let factor = 1;
      if (t.rampSinceMs !== undefined) {
        factor = slowStartFactor(t.rampSinceMs, now, {
          windowMs: this.#slowStartMs,
          minFraction: this.config.slowStart.minFraction,
          aggression: this.config.slowStart.aggression,
        });
        if (factor >= 1) t.rampSinceMs = undefined;
        else {
          factor = Math.max(MIN_FACTOR, factor);
          next = Math.min(next, now + this.#slowStartStepMs);
        }
      }
      if (available !== t.available || factor !== t.weightFactor) {
        t.available = available;
        t.weightFactor = factor;
        changed = true;
      }
    }
    this.#nextReviewAtMs = next;
    if (changed) this.#balancer.setTargets(this.#members);
  }

  #closeTarget(id: string, target: UpstreamTarget, idle: boolean): void {
    if (this.#known.get(id) === target) this.#known.delete(id);
    this.#metrics.forget(this.name, id);
    const closing = idle ? target.pool.close() : target.pool.destroy();
    closing.catch((error: unknown) =>
      this.#logger.warn({ err: error, target: id }, 'edge: closing a pool failed'),
    );
  }
}

function dnsSpec(target: DnsTarget, scheme: 'http' | 'https'): UpstreamTargetSpec {
  const host = target.family === 6 ? `[${target.address}]` : target.address;
  return { id: dnsTargetId(target), origin: `${scheme}://${host}:${target.port}`, basePath: '', weight: 1 };
}

/** The value of cookie `name` in a `Cookie` header (first occurrence), or undefined. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = typeof header === 'string' ? header : header.join('; ');
  let from = 0;
  while (from < text.length) {
    const semi = text.indexOf(';', from);
    const end = semi === -1 ? text.length : semi;
    const eq = text.indexOf('=', from);
    if (eq !== -1 && eq < end && text.slice(from, eq).trim() === name) {
      let value = text.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
    from = end + 1;
  }
  return undefined;
}
