/**
 * How one try of a request against one upstream target ended, as the proxy reports it to the
 * failover mechanisms (outlier detection, circuit breaker, retry decision). The kinds separate what
 * matters for safety: whether the upstream can have received the request at all.
 *
 * - `response`: a response head arrived, with this status. (What happens to the body after that is
 *   not a try outcome: once response bytes have gone to the client, nothing is retried.)
 * - `connect-failure`: no connection was established, so **nothing of the request was sent**:
 *   connection refused, connect timeout, host/network unreachable, DNS failure of the target, TLS
 *   handshake failure. Safe to retry for any method.
 * - `timeout`: the per-try timeout passed after the request was (possibly) sent and before a
 *   response head arrived. The upstream may be processing it.
 * - `reset`: the connection was closed or reset after the request was (possibly) sent and before a
 *   response head arrived (ECONNRESET, socket hang up, HTTP/2 stream reset). The upstream may have
 *   processed it.
 *
 * The proxy must only report `connect-failure` when it knows no request byte was written; when in
 * doubt (e.g. a reused keep-alive socket that turns out closed), report `reset`.
 */
export type UpstreamOutcome =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'connect-failure' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'reset' };

/** The kinds that are failures of the connection rather than answers (Envoy's "local origin" errors). */
export function isLocalOriginFailure(outcome: UpstreamOutcome): boolean {
  return outcome.kind !== 'response';
}

/** A 5xx response or a local-origin failure: what passive health checking counts as an error. */
export function isServerFailure(outcome: UpstreamOutcome): boolean {
  return outcome.kind !== 'response' || outcome.status >= 500;
}

/** Shared instances, so the proxy's hot path allocates nothing for the common failures. */
export const CONNECT_FAILURE: UpstreamOutcome = Object.freeze({ kind: 'connect-failure' });
export const TIMEOUT: UpstreamOutcome = Object.freeze({ kind: 'timeout' });
export const RESET: UpstreamOutcome = Object.freeze({ kind: 'reset' });

const responses = new Map<number, UpstreamOutcome>();

/** A `response` outcome; instances are cached per status. */
export function responseOutcome(status: number): UpstreamOutcome {
  let outcome = responses.get(status);
  if (outcome === undefined) {
    outcome = Object.freeze({ kind: 'response', status });
    if (status >= 100 && status <= 599) responses.set(status, outcome);
  }
  return outcome;
}
