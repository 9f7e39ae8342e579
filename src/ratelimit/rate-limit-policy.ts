import { GroundworkError } from '../core/errors.js';
import { RATE_LIMIT_ALGORITHMS, type RateLimitPolicy } from './rate-limit-store.js';

/**
 * Policy names: also part of store keys (`:` separates key parts) and of the `RateLimit-Policy`
 * header, where they are a Structured Fields String (RFC 8941 §3.3.3, printable ASCII only).
 */
const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Every algorithm computes in integers up to `limit × windowMs` (token-bucket and gcra count time in
 * 1/limit-ms ticks, the sliding counter weighs counts by ms), in JavaScript and in Redis's Lua alike,
 * where numbers are IEEE doubles: the product must stay an exactly representable integer.
 */
export const MAX_LIMIT_TIMES_WINDOW_MS = Number.MAX_SAFE_INTEGER;

function invalid(detail: string): GroundworkError {
  return new GroundworkError('RATELIMIT_ERR_INVALID_POLICY', { detail });
}

/**
 * Checks a policy set before use, so stores can assume well-formed input. Throws
 * `RATELIMIT_ERR_INVALID_POLICY` naming the policy and the rule it breaks.
 */
export function validatePolicies(policies: readonly RateLimitPolicy[]): void {
  if (policies.length === 0) throw invalid('At least one rate-limit policy is required.');
  const names = new Set<string>();
  for (const [index, policy] of policies.entries()) {
    const label = `rate-limit policy #${index} (${JSON.stringify(policy.name)})`;
    if (typeof policy.name !== 'string' || !POLICY_NAME.test(policy.name)) {
      throw invalid(`${label}: name must match ${POLICY_NAME} (letters, digits, "_", ".", "-"; 1-64 chars).`);
    }
    if (names.has(policy.name)) throw invalid(`${label}: duplicate name; policy names must be unique.`);
    names.add(policy.name);
    if (!RATE_LIMIT_ALGORITHMS.includes(policy.algorithm)) {
      throw invalid(
        `${label}: algorithm ${JSON.stringify(policy.algorithm)} is not one of ${RATE_LIMIT_ALGORITHMS.join(', ')}.`,
      );
    }
    if (!Number.isSafeInteger(policy.limit) || policy.limit < 1) {
      throw invalid(`${label}: limit must be an integer ≥ 1, got ${policy.limit}.`);
    }
    if (!Number.isSafeInteger(policy.windowMs) || policy.windowMs < 1) {
      throw invalid(`${label}: windowMs must be an integer ≥ 1, got ${policy.windowMs}.`);
    }
    if (policy.limit * policy.windowMs > MAX_LIMIT_TIMES_WINDOW_MS) {
      throw invalid(
        `${label}: limit × windowMs must not exceed ${MAX_LIMIT_TIMES_WINDOW_MS} (exact integer arithmetic); ` +
          'use a shorter window with a proportionally smaller limit.',
      );
    }
  }
}

/** Throws `RATELIMIT_ERR_INVALID_COST` unless `cost` is an integer in 0..min(limit) of `policies`. */
export function validateCost(cost: number, policies: readonly RateLimitPolicy[]): void {
  const max = Math.min(...policies.map((policy) => policy.limit));
  if (!Number.isSafeInteger(cost) || cost < 0 || cost > max) {
    throw new GroundworkError('RATELIMIT_ERR_INVALID_COST', {
      detail: `A rate-limit cost must be an integer from 0 to ${max} (the smallest policy limit), got ${cost}.`,
    });
  }
}

const ALGORITHM_TAGS: Record<RateLimitPolicy['algorithm'], string> = {
  'fixed-window': 'fw',
  'sliding-window-log': 'swl',
  'sliding-window-counter': 'swc',
  'token-bucket': 'tb',
  gcra: 'gcra',
};

const tags = new WeakMap<RateLimitPolicy, string>();

/**
 * The part of a store key that identifies a policy: name, algorithm, limit and window. Changing any
 * of them in configuration starts every key afresh instead of reading state written under other
 * parameters (a token-bucket level is counted in ticks that depend on the window, for instance).
 */
export function policyTag(policy: RateLimitPolicy): string {
  let tag = tags.get(policy);
  if (tag === undefined) {
    tag = `${policy.name}:${ALGORITHM_TAGS[policy.algorithm]}:${policy.limit}:${policy.windowMs}`;
    tags.set(policy, tag);
  }
  return tag;
}
