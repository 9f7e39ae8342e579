/**
 * Slow start: a target that has just joined a group (added, or back from an ejection or a failed
 * health check) gets a share of traffic that grows over `windowMs` instead of its full share at
 * once, so a cold process (empty caches, JIT not warmed, pool not filled) is not flooded. Envoy's
 * formula (`slow_start_config`), as a pure function the balancers apply to a target's weight:
 *
 *     fraction = max(minFraction, (elapsed / windowMs) ^ (1 / aggression))   while elapsed < windowMs
 *     fraction = 1                                                           from then on
 *
 * `aggression` 1 is a straight line; above 1 the ramp rises fast and flattens (more traffic early),
 * below 1 it starts slowly. `minFraction` keeps a new target from getting nothing at first (Envoy's
 * `min_weight_percent`, default 10 %). A clock earlier than `sinceMs` gives `minFraction`.
 *
 * The result is a real number; balancers that need whole weights should scale before rounding
 * (e.g. weight × 100), or a 1-weight target would round to 0 for the whole window.
 */
import { checkNumber } from './options.js';

export interface SlowStartOptions {
  /** Length of the ramp in ms. 0 disables slow start (always the full weight). */
  readonly windowMs: number;
  /** Curve exponent's inverse (> 0). Default 1: linear. */
  readonly aggression?: number;
  /** Smallest fraction of the weight during the ramp, 0–1. Default 0.1. */
  readonly minFraction?: number;
}

/** The fraction (minFraction–1) of its weight a target that joined at `sinceMs` gets at `nowMs`. */
export function slowStartFactor(sinceMs: number, nowMs: number, options: SlowStartOptions): number {
  const { windowMs, aggression = 1, minFraction = 0.1 } = options;
  const elapsed = nowMs - sinceMs;
  if (windowMs <= 0 || elapsed >= windowMs) return 1;
  if (elapsed <= 0) return minFraction;
  const timeFactor = elapsed / windowMs;
  const curved = aggression === 1 ? timeFactor : timeFactor ** (1 / aggression);
  return Math.max(minFraction, curved);
}

/**
 * The effective weight at `nowMs` of a target of weight `weight` that joined at `sinceMs`.
 *
 * @example
 *   slowStartWeight(10, joinedAt, joinedAt + 15_000, { windowMs: 30_000 }); // 5
 */
export function slowStartWeight(
  weight: number,
  sinceMs: number,
  nowMs: number,
  options: SlowStartOptions,
): number {
  return weight * slowStartFactor(sinceMs, nowMs, options);
}

/** When the ramp of a target that joined at `sinceMs` is over (its weight is full from then on). */
export function slowStartEndsAt(sinceMs: number, options: SlowStartOptions): number {
  return sinceMs + Math.max(0, options.windowMs);
}

/** Validates slow-start options once (at configuration), so the hot-path functions need not. */
export function checkSlowStartOptions(options: SlowStartOptions): SlowStartOptions {
  const owner = 'slowStart';
  checkNumber(owner, 'windowMs', options.windowMs, { min: 0 });
  checkNumber(owner, 'aggression', options.aggression ?? 1, { min: Number.MIN_VALUE });
  checkNumber(owner, 'minFraction', options.minFraction ?? 0.1, { min: 0, max: 1 });
  return options;
}
