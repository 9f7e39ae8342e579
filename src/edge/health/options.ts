/**
 * Validation of the programmatic options of the health and failover mechanisms. The config schema
 * validates user configuration first; this is the second line, so a mechanism built in code with a
 * bad value fails at construction with `EDGE_ERR_INVALID_HEALTH_OPTIONS` naming the option, instead
 * of misbehaving later (a NaN threshold never trips, a 0 ms interval spins).
 */
import { GroundworkError } from '../../core/errors.js';

export interface NumberRule {
  readonly min: number;
  /** Default: no upper bound. */
  readonly max?: number;
  /** Require a whole number. Default false. */
  readonly integer?: boolean;
}

/** Returns `value` if it is a finite number within the rule, else throws naming `owner.name`. */
export function checkNumber(owner: string, name: string, value: number, rule: NumberRule): number {
  const max = rule.max ?? Number.POSITIVE_INFINITY;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= rule.min &&
    value <= max &&
    (rule.integer !== true || Number.isInteger(value));
  if (!ok) {
    const kind = rule.integer === true ? 'an integer' : 'a number';
    const range = Number.isFinite(max) ? `from ${rule.min} to ${max}` : `≥ ${rule.min}`;
    throw new GroundworkError('EDGE_ERR_INVALID_HEALTH_OPTIONS', {
      detail: `${owner}: ${name} must be ${kind} ${range}, got ${String(value)}.`,
    });
  }
  return value;
}

/** Throws `EDGE_ERR_INVALID_HEALTH_OPTIONS` with `detail` when `condition` is false. */
export function checkThat(condition: boolean, owner: string, detail: string): void {
  if (!condition)
    throw new GroundworkError('EDGE_ERR_INVALID_HEALTH_OPTIONS', { detail: `${owner}: ${detail}` });
}
