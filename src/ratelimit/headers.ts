/**
 * The response header fields of draft-ietf-httpapi-ratelimit-headers-11 (23 May 2026, the latest
 * revision), both Structured Fields Lists (RFC 8941) of Items whose value is a String naming the
 * policy:
 *
 *   RateLimit-Policy: "burst";q=10;w=1, "daily";q=1000;w=86400      (§3: quota q, window w seconds)
 *   RateLimit: "burst";r=0;t=1, "daily";r=998;t=86400               (§4: available r, effective window t)
 *
 * plus `Retry-After: <delay-seconds>` (RFC 9110 §10.2.3) on refused requests. The syntax is the
 * same as in -08 to -10; -11 redefined `t` from "seconds until additional quota is available" to
 * the effective window, "the time within which the client can use no more than the available
 * quota" (§4.1.2), which is what `formatRateLimit` sends. The optional partition key `pk` (§3.1.4,
 * §4.1.3, a Byte Sequence) is added only when the caller supplies one; the quota unit `qu` (§3.1.2)
 * is left out because Groundwork counts requests, the default. Members are joined with ", " as
 * RFC 8941 §4.1.1 serializes Lists (the draft's examples omit the space; parsers accept both).
 */
import type { RateLimitDecision, RateLimitPolicy } from './rate-limit-store.js';
import type { PolicyDecision, RateLimitResult } from './rate-limiter.js';
import {
  MAX_SF_INTEGER,
  serializeByteSequence,
  serializeInteger,
  serializeString,
} from './structured-fields.js';

export interface RateLimitHeaderOptions {
  /**
   * The partition key the quota is counted under (§6.1): sent as `pk`. Do not pass anything
   * sensitive (a raw IP or API key); a hash or an opaque id. Strings are sent as their UTF-8 bytes.
   */
  partitionKey?: string | Uint8Array;
}

/**
 * A policy name as a Structured Fields String, which only carries printable ASCII (RFC 8941 §3.3.3):
 * other characters are percent-encoded as UTF-8 (and `%` itself as `%25`, so the name can be
 * recovered), the way RFC 9651's Display Strings do. Validated policy names never need it.
 */
export function policyNameString(name: string): string {
  const ascii = name.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) =>
    [...new TextEncoder().encode(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
  return serializeString(ascii);
}

/** A non-negative sf-integer from any number: NaN → 0, clamped to 15 digits. */
function sfCount(value: number): string {
  return serializeInteger(Number.isNaN(value) ? 0 : Math.min(MAX_SF_INTEGER, Math.max(0, Math.floor(value))));
}

/** Milliseconds as whole seconds, rounded up: sub-second precision is not supported (§3.1.3, §4.1.2). */
function sfSeconds(ms: number, min: number): string {
  const seconds = Number.isNaN(ms) ? min : Math.ceil(ms / 1000);
  return serializeInteger(Math.min(MAX_SF_INTEGER, Math.max(min, seconds)));
}

function partitionKeyParam(options: RateLimitHeaderOptions): string {
  const pk = options.partitionKey;
  if (pk === undefined) return '';
  return `;pk=${serializeByteSequence(typeof pk === 'string' ? new TextEncoder().encode(pk) : pk)}`;
}

/**
 * The `RateLimit-Policy` field value (§3): one Quota Policy Item per policy, `q` = the limit, `w` =
 * the window in seconds, rounded up and at least 1 (§3.1.3: "non-negative, non-zero").
 *
 * @example formatRateLimitPolicy([burst, daily]) // '"burst";q=10;w=1, "daily";q=1000;w=86400'
 */
export function formatRateLimitPolicy(
  policies: readonly RateLimitPolicy[],
  options: RateLimitHeaderOptions = {},
): string {
  const pk = partitionKeyParam(options);
  return policies
    .map((p) => `${policyNameString(p.name)};q=${sfCount(p.limit)};w=${sfSeconds(p.windowMs, 1)}${pk}`)
    .join(', ');
}

/**
 * One Service Limit Item of the `RateLimit` field (§4.1): `r` = units left; `t` = the effective
 * window in seconds, rounded up. Allowed: `t` is the time until the quota is fully restored
 * (`resetMs`), so spending at most `r` within `t` never gets refused. Refused: `t` is the
 * `Retry-After` delay, because §6 says Retry-After SHOULD NOT point earlier than the end of the
 * effective window.
 *
 * @example formatRateLimit(decision, burst) // '"burst";r=3;t=1'
 */
export function formatRateLimit(
  decision: RateLimitDecision,
  policy: RateLimitPolicy,
  options: RateLimitHeaderOptions = {},
): string {
  const t = decision.allowed ? decision.resetMs : decision.retryAfterMs;
  return `${policyNameString(policy.name)};r=${sfCount(decision.remaining)};t=${sfSeconds(t, 0)}${partitionKeyParam(options)}`;
}

/** The whole `RateLimit` field value: one item per policy decision, in order. */
export function formatRateLimits(
  decisions: readonly PolicyDecision[],
  options: RateLimitHeaderOptions = {},
): string {
  return decisions.map((d) => formatRateLimit(d, d.policy, options)).join(', ');
}

/** `Retry-After` delay-seconds (RFC 9110 §10.2.3) for a wait in ms: whole seconds, rounded up. */
export function retryAfterSeconds(ms: number): number {
  return Number.isNaN(ms) || ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/**
 * The headers for a limiter result: `ratelimit-policy` always, `ratelimit` with every policy's
 * service limit unless the store failed (nothing is known then), and `retry-after` when refused by
 * a policy. Header names are lower case (HTTP/2 and Node's convention).
 */
export function rateLimitHeaders(
  result: RateLimitResult,
  policies: readonly RateLimitPolicy[],
  options: RateLimitHeaderOptions = {},
): Record<string, string> {
  const headers: Record<string, string> = { 'ratelimit-policy': formatRateLimitPolicy(policies, options) };
  if (result.degraded) return headers;
  headers.ratelimit = formatRateLimits(result.decisions, options);
  if (!result.allowed) headers['retry-after'] = String(retryAfterSeconds(result.decision.retryAfterMs));
  return headers;
}
