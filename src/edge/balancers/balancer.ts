/**
 * The load-balancer port: what every algorithm in this folder implements and what the proxy calls.
 * A balancer only chooses: it never opens a connection or starts a timer, and reads the time only
 * through an injectable clock (peak-ewma's `now`). The proxy owns the targets' health, retries and
 * timing, and tells the balancer about them through four calls:
 *
 * - `setTargets(targets)` whenever health checks, outlier detection, slow start or DNS discovery
 *   change the group. State kept per target (in-flight counts, latency averages, smooth-weighted
 *   round-robin credit) survives for every id still present, so a health flap does not reset it.
 * - `pick(context)` once per attempt: a target that is available and not in `context.exclude`, or
 *   `undefined` exactly when there is none.
 * - `onStart(target)` right after a pick whose request is really sent (synchronously: two picks
 *   with no `onStart` between them see the same load), and `onEnd(target, outcome)` exactly once
 *   when it finishes, failed or not. A target removed by `setTargets` while requests are in flight
 *   keeps its counters until they end (draining), so re-adding it does not lose them.
 *
 * Weights are integers (`weight`); slow start and other temporary reductions multiply them by
 * `weightFactor` in (0, 1] instead of rewriting `weight`, which the hashing algorithms keep using so
 * that a ramp does not move keys (they ignore the factor; see each file).
 */
import { GroundworkError } from '../../core/errors.js';

/** One upstream endpoint as the balancer sees it. */
export interface Target {
  /** Stable and unique within a group: state, exclusions, hash placement and sticky pins key on it. */
  readonly id: string;
  /** Where to send the request (`http://10.0.0.5:8080`, `10.0.0.5:5432`); opaque to balancers. */
  readonly address: string;
  /** Relative capacity, an integer from 1 to {@link MAX_WEIGHT}. Algorithms without weights ignore it. */
  readonly weight: number;
  /** `false` takes the target out of every pick (unhealthy, ejected, draining). Default `true`. */
  readonly available?: boolean | undefined;
  /**
   * Multiplies `weight` for the weighted choosers (smooth weighted round robin, least connections,
   * power of two choices, random), in (0, 1]; default 1. The proxy ramps it up for slow start of a
   * recovered target. The hashing algorithms (ip-hash, consistent-hash, maglev) ignore it.
   */
  readonly weightFactor?: number | undefined;
}

/** What the proxy knows about the request when it asks for a target. All fields are optional. */
export interface PickContext {
  /**
   * The client's address (`10.1.2.3`, `2001:db8::1`, `::ffff:10.1.2.3`), read by ip-hash, and by
   * consistent-hash and maglev when there is no `hashKey`. Every spelling of one address hashes alike.
   */
  readonly clientIp?: string | undefined;
  /**
   * The value to hash on, extracted by the caller from a header, cookie, path parameter or the
   * client IP, read by consistent-hash and maglev (they fall back to `clientIp`).
   */
  readonly hashKey?: string | undefined;
  /**
   * Ids never to pick for this request: targets already tried by a retry, or just ejected. A lookup
   * per candidate, so keep it small (a `Set` of the tried ids).
   */
  readonly exclude?: ReadonlySet<string> | undefined;
  /** The sticky-session cookie's value as received, read only by `StickySessions`. */
  readonly stickyCookie?: string | undefined;
}

/** How one request to a target ended. */
export interface RequestOutcome {
  /** Time from sending the request to the end of the response (or the failure), in ms. */
  readonly latencyMs: number;
  /** `false` for connect failures, timeouts and responses the proxy counts as failures (5xx). */
  readonly ok: boolean;
}

/**
 * A load-balancing algorithm over a group of targets. `T` lets the caller attach its own fields
 * (a connection pool, metrics labels): `pick` returns the very objects given to `setTargets`.
 *
 * @example
 *   const lb = createBalancer('least-connections', { targets: [
 *     { id: 'a', address: 'http://127.0.0.1:8081', weight: 1 },
 *     { id: 'b', address: 'http://127.0.0.1:8082', weight: 2 },
 *   ] });
 *   const target = lb.pick({ clientIp: '203.0.113.9', exclude: tried });
 *   if (target) { lb.onStart(target); … lb.onEnd(target, { latencyMs: 12, ok: true }); }
 */
export interface Balancer<T extends Target = Target> {
  readonly name: BalancerName;
  /** Replaces the group. Throws `EDGE_ERR_INVALID_BALANCER` (and changes nothing) when invalid. */
  setTargets(targets: readonly T[]): void;
  /** The current group, in the order given. */
  targets(): readonly T[];
  /** An available target not in `context.exclude`; `undefined` only when there is none. */
  pick(context?: PickContext): T | undefined;
  onStart(target: T): void;
  onEnd(target: T, outcome: RequestOutcome): void;
}

/**
 * Every algorithm, by the name configuration uses (`edge.upstreams.*.balancer`, `cluster up --lb`).
 * See `create-balancer.ts` for what each one does and its options.
 */
export const BALANCER_NAMES = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'peak-ewma',
  'power-of-two-choices',
  'random',
  'ip-hash',
  'consistent-hash',
  'maglev',
] as const;

export type BalancerName = (typeof BALANCER_NAMES)[number];

export function isBalancerName(value: string): value is BalancerName {
  return (BALANCER_NAMES as readonly string[]).includes(value);
}

/** Upper bound on `weight`: keeps weight sums exact and hash rings of a bounded size. */
export const MAX_WEIGHT = 10_000;

export function invalidBalancer(detail: string): GroundworkError {
  return new GroundworkError('EDGE_ERR_INVALID_BALANCER', { detail });
}

/** `weight × weightFactor`: what the weighted choosers divide and accumulate. */
export function effectiveWeight(target: Target): number {
  return target.weight * (target.weightFactor ?? 1);
}

export function isAvailable(target: Target): boolean {
  return target.available !== false;
}

/** Available and not excluded: the one eligibility rule of every algorithm. */
export function isEligible(target: Target, exclude: ReadonlySet<string> | undefined): boolean {
  return target.available !== false && (exclude === undefined || !exclude.has(target.id));
}

/**
 * Checks a group before any algorithm uses it: ids non-empty and unique, `address` a string,
 * `weight` an integer from 1 to {@link MAX_WEIGHT}, `weightFactor` absent or in (0, 1].
 *
 * @throws GroundworkError `EDGE_ERR_INVALID_BALANCER` naming the first offending target.
 */
export function validateTargets(targets: readonly Target[]): void {
  if (!Array.isArray(targets)) throw invalidBalancer('targets must be an array');
  const seen = new Set<string>();
  for (const [i, t] of targets.entries()) {
    if (t === null || typeof t !== 'object') throw invalidBalancer(`target #${i} is not an object`);
    if (typeof t.id !== 'string' || t.id === '') throw invalidBalancer(`target #${i} has no id`);
    const name = JSON.stringify(t.id);
    if (seen.has(t.id)) throw invalidBalancer(`target id ${name} appears twice`);
    seen.add(t.id);
    if (typeof t.address !== 'string') throw invalidBalancer(`target ${name} has no address`);
    if (!Number.isInteger(t.weight) || t.weight < 1 || t.weight > MAX_WEIGHT) {
      throw invalidBalancer(`target ${name}: weight must be an integer from 1 to ${MAX_WEIGHT}`);
    }
    const factor = t.weightFactor;
    if (factor !== undefined && !(typeof factor === 'number' && factor > 0 && factor <= 1)) {
      throw invalidBalancer(`target ${name}: weightFactor must be a number in (0, 1]`);
    }
  }
}
