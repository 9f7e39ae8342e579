import { type ErrorCode, errorCodes } from '../../core/error-codes.js';
import {
  header,
  type JsonSchema,
  jsonContent,
  type OpenApiObject,
  PROBLEM_MEDIA,
  ref,
} from './openapi-parts.js';

/**
 * RFC 9457 problem details as Groundwork sends them (src/core/errors.ts `toProblem`), and the
 * error responses of each operation. Every response lists the codes it may carry, in its
 * description and as `x-groundwork-codes`, so clients (and the tests) can check a code against
 * the operation that produced it.
 */
export function problemSchemas(): Record<string, JsonSchema> {
  const members: Record<string, JsonSchema> = {
    type: { type: 'string', format: 'uri', description: 'Stable URI of the error code (docs/errors.md).' },
    title: { type: 'string', description: 'Short summary of the code; do not branch on it.' },
    status: { type: 'integer', minimum: 400, maximum: 599, description: 'The HTTP status of the response.' },
    code: ref('ErrorCode'),
    detail: { type: 'string', description: 'Safe, human-readable explanation of this occurrence.' },
    errors: {
      type: 'array',
      description: 'Every invalid input: `field` (records) or `path` (definitions), `code` and `message`.',
      items: {
        type: 'object',
        properties: {
          field: { type: 'string' },
          path: { type: 'string' },
          code: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
    failedIndex: {
      type: 'integer',
      minimum: 0,
      description: 'Batch: position of the operation that failed.',
    },
    checks: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Readiness: the state of each dependency (`ok` or what is wrong).',
    },
  };
  const required = ['type', 'title', 'status', 'code'];
  return {
    ErrorCode: {
      type: 'string',
      enum: Object.keys(errorCodes),
      description: 'Stable error code: branch on this.',
    },
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details (`application/problem+json`).',
      properties: {
        ...members,
        requestId: { type: 'string', description: 'Matches X-Request-Id and the server log.' },
        error: ref('OperationProblem'),
      },
      required: [...required, 'requestId'],
    },
    OperationProblem: {
      type: 'object',
      description: "Batch: the failed operation's own problem (with its own code and status).",
      properties: members,
      required,
    },
  };
}

/** What an operation can fail with, beyond what every route can. */
export interface ErrorSpec {
  /**
   * The operation's HTTP method: a state-changing one (POST, PUT, PATCH, DELETE) may be refused by
   * the CSRF check when the caller authenticates with a session cookie (`AUTH_ERR_CSRF`).
   */
  method: string;
  /** `admin` routes refuse non-admins in the gateway (401 anonymous, 403 others). */
  admin?: boolean;
  /** The route reads a JSON body: malformed JSON, too large, wrong media type. */
  body?: boolean;
  /** The method honours Idempotency-Key (by default POST and PATCH). */
  idempotent?: boolean;
  /** Route-specific codes, listed under their registry status. */
  codes?: readonly ErrorCode[];
  /** Codes sent with a status other than their registry's (a batch failure takes its operation's). */
  overrides?: Readonly<Record<number, readonly ErrorCode[]>>;
}

const REASONS: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  412: 'Precondition failed',
  413: 'Content too large',
  415: 'Unsupported media type',
  422: 'Unprocessable content',
  423: 'Locked',
  429: 'Too many requests',
  500: 'Internal server error',
  503: 'Service unavailable',
};

/**
 * Codes any route may answer with: gateway policies, credentials, parse errors, shutdown, and the
 * database (a request with credentials has its API key looked up there, whatever the route).
 */
const EVERY_ROUTE: readonly ErrorCode[] = [
  'HTTP_ERR_BAD_REQUEST',
  'AUTH_ERR_INVALID_CREDENTIALS',
  'GATEWAY_ERR_IP_DENIED',
  'GATEWAY_ERR_RATE_LIMITED',
  'HTTP_ERR_INTERNAL',
  'HTTP_ERR_SHUTTING_DOWN',
  'GATEWAY_ERR_OVERLOADED',
  'DB_ERR_CONNECTION',
  'DB_ERR_CLOSED',
  'DB_ERR_QUERY',
];

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The error responses of one operation, by status, each `application/problem+json` → Problem. */
export function errorResponses(spec: ErrorSpec): Record<string, OpenApiObject> {
  const byStatus = new Map<number, Set<ErrorCode>>();
  const add = (status: number, code: ErrorCode) => {
    const set = byStatus.get(status) ?? new Set<ErrorCode>();
    set.add(code);
    byStatus.set(status, set);
  };
  const codes: ErrorCode[] = [...EVERY_ROUTE];
  if (!SAFE_METHODS.has(spec.method.toUpperCase())) codes.push('AUTH_ERR_CSRF');
  if (spec.admin) codes.push('AUTH_ERR_UNAUTHENTICATED', 'AUTH_ERR_FORBIDDEN');
  if (spec.body)
    codes.push('HTTP_ERR_INVALID_BODY', 'HTTP_ERR_BODY_TOO_LARGE', 'HTTP_ERR_UNSUPPORTED_MEDIA_TYPE');
  if (spec.idempotent)
    codes.push(
      'GATEWAY_ERR_IDEMPOTENCY_KEY_MISSING',
      'GATEWAY_ERR_IDEMPOTENCY_KEY_INVALID',
      'GATEWAY_ERR_IDEMPOTENCY_IN_PROGRESS',
      'GATEWAY_ERR_IDEMPOTENCY_KEY_REUSED',
    );
  codes.push(...(spec.codes ?? []));
  for (const code of codes) add(errorCodes[code].status, code);
  for (const [status, list] of Object.entries(spec.overrides ?? {}))
    for (const code of list) add(Number(status), code);

  const responses: Record<string, OpenApiObject> = {};
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const list = [...(byStatus.get(status) ?? [])].sort();
    const shared = SHARED[status];
    responses[String(status)] =
      shared && list.join() === everyRouteCodes(status).join()
        ? ref(shared, 'responses')
        : problemResponse(status, list);
  }
  return responses;
}

/** Error responses whose codes are exactly those every route has: shared under components.responses. */
const SHARED: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'Unavailable',
};

function everyRouteCodes(status: number): ErrorCode[] {
  return EVERY_ROUTE.filter((code) => errorCodes[code].status === status).sort();
}

export function sharedResponses(): Record<string, OpenApiObject> {
  return Object.fromEntries(
    Object.entries(SHARED).map(([status, name]) => [
      name,
      problemResponse(Number(status), everyRouteCodes(Number(status))),
    ]),
  );
}

function problemResponse(status: number, codes: readonly ErrorCode[]): OpenApiObject {
  const headers: Record<string, OpenApiObject> = {};
  if (status === 401) headers['WWW-Authenticate'] = header('WWW-Authenticate');
  if (status === 412 && codes.includes('DATA_ERR_PRECONDITION_FAILED')) headers.ETag = header('ETag', true);
  if (status === 423 || status === 429 || status === 503) headers['Retry-After'] = header('Retry-After');
  if (status === 429) {
    headers.RateLimit = header('RateLimit');
    headers['RateLimit-Policy'] = header('RateLimit-Policy');
  }
  return {
    description: `${REASONS[status] ?? 'Error'}: ${codes.join(', ')}.`,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: jsonContent(ref('Problem'), PROBLEM_MEDIA),
    'x-groundwork-codes': codes,
  };
}
