import { type ErrorCode, errorCodes } from './error-codes.js';

export interface GroundworkErrorOptions {
  /** Safe, client-facing detail. Never put engine messages, SQL or paths here. */
  detail?: string;
  /** The internal cause: logged, never sent to clients. */
  cause?: unknown;
  /** Override the registry's status (rare: e.g. a code reused under a different status). */
  status?: number;
  /** Extra problem+json members (RFC 9457 §3.2 extension members), e.g. `errors` per field. */
  extensions?: Record<string, unknown>;
  /** Extra response headers (e.g. `Allow`, `Retry-After`). */
  headers?: Record<string, string>;
}

/**
 * The one error type of Groundwork. Carries a stable `code` from the registry, the HTTP status,
 * a safe public `detail` and an internal `cause`. Anything thrown that is not a GroundworkError
 * is reported to clients as HTTP_ERR_INTERNAL with no detail.
 *
 * @example
 *   throw new GroundworkError('HTTP_ERR_NOT_FOUND', { detail: 'No route for GET /nope' });
 */
export class GroundworkError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extensions: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, options: GroundworkErrorOptions = {}) {
    const info = errorCodes[code];
    super(options.detail ?? info.title, { cause: options.cause });
    this.name = 'GroundworkError';
    this.code = code;
    this.status = options.status ?? info.status;
    this.title = info.title;
    this.detail = options.detail;
    this.extensions = options.extensions;
    this.headers = options.headers;
  }
}

export function isGroundworkError(value: unknown): value is GroundworkError {
  return value instanceof GroundworkError;
}

/** RFC 9457 problem details, with Groundwork's `code` and `requestId` extension members. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  requestId?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Where each code is documented; `type` is a stable URI per code (RFC 9457 §3.1.1). */
export function problemType(code: ErrorCode): string {
  return `https://groundwork.dev/errors#${code.toLowerCase().replaceAll('_', '-')}`;
}

export function toProblem(error: GroundworkError, requestId?: string): Problem {
  const problem: Problem = {
    ...error.extensions,
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    code: error.code,
  };
  if (error.detail !== undefined) problem.detail = error.detail;
  if (requestId !== undefined) problem.requestId = requestId;
  return problem;
}
