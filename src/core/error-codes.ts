/**
 * The registry of every stable error code Groundwork emits. Codes are part of the public API:
 * never rename one; add a new code instead. `docs/errors.md` lists the same codes and a test
 * keeps the two in agreement (`src/core/error-codes.test.ts`).
 *
 * Naming: `<BLOCK>_ERR_<WHAT>`. `status` is the HTTP status a response carries; `title` is the
 * short, safe, human summary used as the problem+json `title`.
 */
export interface ErrorCodeInfo {
  readonly status: number;
  readonly title: string;
}

export const errorCodes = {
  // HTTP layer: produced by the server itself, before or around any route.
  HTTP_ERR_NOT_FOUND: { status: 404, title: 'Not Found' },
  HTTP_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed' },
  HTTP_ERR_BAD_REQUEST: { status: 400, title: 'Bad Request' },
  HTTP_ERR_INVALID_BODY: { status: 400, title: 'Invalid Request Body' },
  HTTP_ERR_VALIDATION: { status: 400, title: 'Validation Failed' },
  HTTP_ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request Timeout' },
  HTTP_ERR_BODY_TOO_LARGE: { status: 413, title: 'Content Too Large' },
  HTTP_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Media Type' },
  HTTP_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'Request Header Fields Too Large' },
  HTTP_ERR_INTERNAL: { status: 500, title: 'Internal Server Error' },
  HTTP_ERR_SHUTTING_DOWN: { status: 503, title: 'Service Unavailable' },
  // Readiness: a dependency (database, cache, broker) is not reachable.
  CORE_ERR_NOT_READY: { status: 503, title: 'Not Ready' },
  // Configuration: reported at start-up, never over HTTP; status is nominal.
  CONFIG_ERR_INVALID: { status: 500, title: 'Invalid Configuration' },
  CONFIG_ERR_FILE: { status: 500, title: 'Unreadable Configuration File' },
  // Database: engine errors translated at the driver boundary.
  DB_ERR_UNIQUE_VIOLATION: { status: 409, title: 'Conflict: Duplicate Value' },
  DB_ERR_FOREIGN_KEY_VIOLATION: { status: 409, title: 'Conflict: Referenced Record' },
  DB_ERR_NOT_NULL_VIOLATION: { status: 400, title: 'Missing Required Value' },
  DB_ERR_CHECK_VIOLATION: { status: 400, title: 'Value Violates a Constraint' },
  DB_ERR_SERIALIZATION_FAILURE: { status: 409, title: 'Conflict: Concurrent Update, Retry' },
  DB_ERR_CONNECTION: { status: 503, title: 'Database Unavailable' },
  DB_ERR_CLOSED: { status: 503, title: 'Database Closed' },
  DB_ERR_QUERY: { status: 500, title: 'Database Error' },
  DB_ERR_UNSUPPORTED_URL: { status: 500, title: 'Unsupported Database URL' },
  DB_ERR_MIGRATION_FAILED: { status: 500, title: 'Migration Failed' },
  // Gateway policies (src/gateway): idempotency keys, rate limits, load shedding.
  GATEWAY_ERR_IDEMPOTENCY_KEY_MISSING: { status: 400, title: 'Idempotency-Key Required' },
  GATEWAY_ERR_IDEMPOTENCY_KEY_INVALID: { status: 400, title: 'Invalid Idempotency-Key' },
  GATEWAY_ERR_IDEMPOTENCY_IN_PROGRESS: { status: 409, title: 'Request Already In Progress' },
  GATEWAY_ERR_IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    title: 'Idempotency-Key Reused For A Different Request',
  },
  GATEWAY_ERR_RATE_LIMITED: { status: 429, title: 'Too Many Requests' },
  GATEWAY_ERR_OVERLOADED: { status: 503, title: 'Overloaded, Retry Later' },
  GATEWAY_ERR_IP_DENIED: { status: 403, title: 'Client Address Not Allowed' },
  GATEWAY_ERR_INVALID_CIDR: { status: 500, title: 'Invalid IP Address Or CIDR In Configuration' },
  GATEWAY_ERR_INVALID_CORS: { status: 500, title: 'Invalid CORS Configuration' },
  // Rate limiting (src/ratelimit): store failures and configuration errors.
  RATELIMIT_ERR_STORE_UNAVAILABLE: { status: 503, title: 'Rate-Limit Store Unavailable' },
  RATELIMIT_ERR_INVALID_POLICY: { status: 500, title: 'Invalid Rate-Limit Policy' },
  RATELIMIT_ERR_INVALID_COST: { status: 500, title: 'Invalid Rate-Limit Cost' },
  // Edge (src/edge): load balancers and upstream groups.
  EDGE_ERR_INVALID_BALANCER: { status: 500, title: 'Invalid Load-Balancer Configuration' },
  EDGE_ERR_INVALID_HEALTH_OPTIONS: { status: 500, title: 'Invalid Health-Check Or Failover Options' },
  EDGE_ERR_DNS_RESOLUTION: { status: 503, title: 'Upstream DNS Resolution Failed' },
  EDGE_ERR_UPSTREAM_CONNECT: { status: 502, title: 'Upstream Unreachable' },
  EDGE_ERR_UPSTREAM_RESET: { status: 502, title: 'Upstream Connection Lost' },
  EDGE_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Invalid Upstream Response' },
  EDGE_ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream Timeout' },
  EDGE_ERR_NO_HEALTHY_UPSTREAM: { status: 503, title: 'No Healthy Upstream' },
  EDGE_ERR_FAULT_INJECTED: { status: 503, title: 'Fault Injected' },
  EDGE_ERR_INVALID_TCP_ROUTE: { status: 500, title: 'Invalid TCP Route Configuration' },
  EDGE_ERR_TCP_LISTEN: { status: 500, title: 'TCP Route Cannot Listen' },
  EDGE_ERR_TCP_NO_UPSTREAM: { status: 503, title: 'No TCP Upstream Accepted The Connection' },
  // Bus (src/bus): publish/subscribe between nodes; never answered to clients directly.
  BUS_ERR_UNAVAILABLE: { status: 503, title: 'Message Bus Unavailable' },
  BUS_ERR_MESSAGE_TOO_LARGE: { status: 500, title: 'Bus Message Too Large' },
  BUS_ERR_INVALID_MESSAGE: { status: 500, title: 'Bus Message Not Serialisable' },
  BUS_ERR_INVALID_TOPIC: { status: 500, title: 'Invalid Bus Topic' },
  // Cache (src/cache): store failures on writes and invalidations, and programming errors.
  CACHE_ERR_STORE_UNAVAILABLE: { status: 503, title: 'Cache Store Unavailable' },
  CACHE_ERR_INVALID_KEY: { status: 500, title: 'Invalid Cache Key Or Tag' },
  CACHE_ERR_INVALID_VALUE: { status: 500, title: 'Cache Value Is Not JSON Data' },
  CACHE_ERR_VALUE_TOO_LARGE: { status: 500, title: 'Cache Value Too Large' },
  CACHE_ERR_INVALID_OPTIONS: { status: 500, title: 'Invalid Cache Options' },
  CACHE_ERR_INVALIDATION_FAILED: { status: 503, title: 'Saved, But Cached Reads Not Invalidated' },
  // Authentication (src/auth): who is calling.
  AUTH_ERR_UNAUTHENTICATED: { status: 401, title: 'Authentication Required' },
  AUTH_ERR_INVALID_CREDENTIALS: { status: 401, title: 'Invalid Credentials' },
  AUTH_ERR_INVALID_TOKEN: { status: 401, title: 'Invalid Access Token' },
  AUTH_ERR_INVALID_REFRESH_TOKEN: { status: 401, title: 'Invalid Refresh Token' },
  AUTH_ERR_TOKEN_CONFIG: { status: 500, title: 'Invalid Token Configuration' },
  AUTH_ERR_FORBIDDEN: { status: 403, title: 'Forbidden' },
  AUTH_ERR_SCOPE: { status: 403, title: 'Outside the Key Scopes' },
  AUTH_ERR_CSRF: { status: 403, title: 'Cross-Site Request Refused' },
  AUTH_ERR_INVALID_MAIL_TOKEN: { status: 400, title: 'Invalid or Expired Link' },
  AUTH_ERR_NOT_AUTH_COLLECTION: { status: 404, title: 'Not an Auth Collection' },
  AUTH_ERR_TOO_MANY_ATTEMPTS: { status: 429, title: 'Too Many Sign-In Attempts' },
  AUTH_ERR_ACCOUNT_LOCKED: { status: 423, title: 'Account Temporarily Locked' },
  AUTH_ERR_GUARD_UNAVAILABLE: { status: 503, title: 'Sign-In Temporarily Unavailable' },
  // Mail (src/mail): outgoing mail for verification and password reset.
  MAIL_ERR_INVALID_MESSAGE: { status: 400, title: 'Invalid Mail Message' },
  MAIL_ERR_SEND_FAILED: { status: 502, title: 'Mail Not Sent' },
  // Data API (src/data): collections, records, queries, batch.
  DATA_ERR_COLLECTION_NOT_FOUND: { status: 404, title: 'Collection Not Found' },
  DATA_ERR_COLLECTION_EXISTS: { status: 409, title: 'Collection Already Exists' },
  DATA_ERR_COLLECTION_INVALID: { status: 400, title: 'Invalid Collection Definition' },
  DATA_ERR_SCHEMA_CONFLICT: { status: 409, title: 'Schema Change Conflicts With Data' },
  DATA_ERR_RECORD_NOT_FOUND: { status: 404, title: 'Record Not Found' },
  DATA_ERR_VALIDATION: { status: 400, title: 'Invalid Record' },
  DATA_ERR_PRECONDITION_FAILED: { status: 412, title: 'Precondition Failed' },
  DATA_ERR_REFERENCED: { status: 409, title: 'Record Is Referenced' },
  DATA_ERR_AUTH_FIELD: { status: 403, title: 'Managed by Auth' },
  DATA_ERR_QUERY_INVALID: { status: 400, title: 'Invalid Query Parameter' },
  DATA_ERR_FILTER_SYNTAX: { status: 400, title: 'Invalid Filter' },
  DATA_ERR_FILTER_FIELD: { status: 400, title: 'Invalid Filter Field' },
  DATA_ERR_FILTER_VALUE: { status: 400, title: 'Invalid Filter Value' },
  DATA_ERR_FILTER_LIMIT: { status: 400, title: 'Filter Too Complex' },
  DATA_ERR_SORT_INVALID: { status: 400, title: 'Invalid Sort' },
  DATA_ERR_CURSOR_INVALID: { status: 400, title: 'Invalid Cursor' },
  DATA_ERR_BATCH_INVALID: { status: 400, title: 'Invalid Batch' },
  DATA_ERR_BATCH_FAILED: { status: 400, title: 'Batch Operation Failed' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCodes, value);
}
