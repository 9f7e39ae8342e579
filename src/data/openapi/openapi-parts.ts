/**
 * Small building blocks shared by the OpenAPI generators. The document is plain JSON, typed
 * loosely on purpose: its shape is checked by an OpenAPI 3.1 validator in the tests, and every
 * schema in it by Ajv against the JSON Schema 2020-12 meta-schema.
 */
export type JsonSchema = Record<string, unknown>;
export type OpenApiObject = Record<string, unknown>;

export const JSON_MEDIA = 'application/json';
export const PROBLEM_MEDIA = 'application/problem+json';

/** A reference to `#/components/<kind>/<name>`. */
export function ref(
  name: string,
  kind: 'schemas' | 'parameters' | 'headers' | 'responses' = 'schemas',
): { $ref: string } {
  return { $ref: `#/components/${kind}/${name}` };
}

export function jsonContent(schema: JsonSchema, media = JSON_MEDIA): OpenApiObject {
  return { [media]: { schema } };
}

export function jsonBody(schema: JsonSchema, required = true, description?: string): OpenApiObject {
  return { ...(description ? { description } : {}), required, content: jsonContent(schema) };
}

/** The security requirement of an operation: admin-only, optional credentials, or none. */
export type Security = 'admin' | 'optional' | 'none';

export function security(kind: Security): OpenApiObject[] {
  if (kind === 'admin') return [{ bearerAuth: [] }];
  if (kind === 'optional') return [{}, { bearerAuth: [] }];
  return [];
}

/** Response headers, by the name used in `components.headers`. */
export const HEADERS: Record<string, OpenApiObject> = {
  ETag: {
    description: 'Strong entity tag of the record version (`"<version>-<updated in base 36>"`).',
    schema: { type: 'string' },
  },
  Location: { description: 'Path of the created resource.', schema: { type: 'string' } },
  Link: { description: 'RFC 8288 link to the next page: `<url>; rel="next"`.', schema: { type: 'string' } },
  'Idempotent-Replayed': {
    description:
      '`true` when this is the stored response of an earlier request with the same Idempotency-Key.',
    schema: { type: 'string', enum: ['true'] },
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
  RateLimit: { description: 'IETF RateLimit field: the remaining quota.', schema: { type: 'string' } },
  'RateLimit-Policy': {
    description: 'IETF RateLimit-Policy field: the policies in force.',
    schema: { type: 'string' },
  },
  'WWW-Authenticate': { description: 'The authentication scheme (`Bearer`).', schema: { type: 'string' } },
  'Cache-Control': {
    description: 'Caching directive: `no-store` (the answer holds credentials or live state).',
    schema: { const: 'no-store' },
  },
  'Last-Modified': {
    description: 'When the record last changed (IMF-fixdate); absent with `expand`.',
    schema: { type: 'string' },
  },
  Vary: {
    description:
      'The answer depends on the caller: caches must key on `Authorization` and `Cookie` (and `Origin` with CORS).',
    schema: { type: 'string', pattern: '^(?=.*\\bAuthorization\\b)(?=.*\\bCookie\\b)' },
  },
  'Set-Cookie': {
    description:
      'The session cookie: `gw_session=<secret>; Path=/; HttpOnly; SameSite=Lax; Max-Age=<s>` (`__Host-gw_session` and `Secure` over TLS); `Max-Age=0` clears it.',
    schema: { type: 'string', pattern: '^(__Host-)?gw_session=' },
  },
};

/**
 * A header of `HEADERS`: by reference, or inline when the response always carries it or when
 * this response says more about it (`description`, `schema`).
 */
export function header(
  name: string,
  required = false,
  specific?: { description?: string; schema?: JsonSchema },
): OpenApiObject {
  if (!required && !specific) return ref(name, 'headers');
  return { ...HEADERS[name], ...specific, ...(required ? { required: true } : {}) };
}
