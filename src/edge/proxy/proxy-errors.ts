/**
 * The edge's answers when a request cannot be proxied, as `GroundworkError`s with stable codes:
 * connect failure and reset → 502, timeout → 504, no target → 503 (`Retry-After: 1`). The details
 * are safe for clients: they never name a target address; the cause (undici's error) goes to the log.
 *
 * Routes behind the gateway answer these through Fastify's error handler (problem+json, the request
 * id, the gateway's `onSend` hooks); routes that bypass it, and WebSocket upgrades, write the same
 * problem+json themselves with `writeProblem` / `problemResponseText`.
 */
import http from 'node:http';
import { GroundworkError, PROBLEM_CONTENT_TYPE, toProblem } from '../../core/errors.js';
import type { UpstreamOutcome } from '../health/upstream-outcome.js';

/** The error for a request whose last try ended with `outcome` (a failure before any response head). */
export function outcomeError(outcome: UpstreamOutcome, cause?: unknown): GroundworkError {
  switch (outcome.kind) {
    case 'connect-failure':
      return new GroundworkError('EDGE_ERR_UPSTREAM_CONNECT', {
        detail: 'No upstream target of this route accepted a connection.',
        cause,
      });
    case 'timeout':
      return new GroundworkError('EDGE_ERR_UPSTREAM_TIMEOUT', {
        detail: 'The upstream did not answer in time.',
        cause,
      });
    case 'reset':
      return isParseError(cause)
        ? new GroundworkError('EDGE_ERR_UPSTREAM_BAD_RESPONSE', {
            detail: 'The upstream answered with an invalid HTTP response.',
            cause,
          })
        : new GroundworkError('EDGE_ERR_UPSTREAM_RESET', {
            detail: 'The upstream closed the connection before answering.',
            cause,
          });
    default:
      return new GroundworkError('EDGE_ERR_UPSTREAM_BAD_RESPONSE', {
        detail: 'The upstream response was refused.',
        cause,
      });
  }
}

export function noHealthyUpstream(): GroundworkError {
  return new GroundworkError('EDGE_ERR_NO_HEALTHY_UPSTREAM', {
    detail: 'No healthy upstream target is available for this route; retry later.',
    headers: { 'retry-after': '1' },
  });
}

export function badResponse(cause: unknown): GroundworkError {
  return new GroundworkError('EDGE_ERR_UPSTREAM_BAD_RESPONSE', {
    detail: 'The upstream answered with response headers that cannot be forwarded.',
    cause,
  });
}

/** llhttp's parse errors (`HPE_*`) and undici's response-size errors: the upstream spoke bad HTTP. */
function isParseError(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH')
  );
}

/** The head and body of a problem+json response, for writers without Fastify. */
export function problemResponse(
  error: GroundworkError,
  requestId?: string,
): { status: number; headers: Record<string, string>; body: string } {
  const body = JSON.stringify(toProblem(error, requestId));
  return {
    status: error.status,
    headers: {
      ...error.headers,
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    },
    body,
  };
}

/** A complete HTTP/1.1 problem response as text, for a raw socket (failed WebSocket upgrades). */
export function problemResponseText(error: GroundworkError): string {
  const { status, headers, body } = problemResponse(error);
  let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}connection: close\r\n\r\n${body}`;
}
