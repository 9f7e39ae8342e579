import { configSchema } from '../../core/config.js';
import { isAuthCollection } from '../collections/auth-collection.js';
import type { CollectionDef } from '../collections/collection.js';
import { authPaths, authSystemPaths } from './auth-paths.js';
import { authCollectionSchemas, authSchemas } from './auth-schemas.js';
import { batchPath, batchSchemas } from './batch-path.js';
import { collectionSchemas } from './collection-schemas.js';
import { HEADERS, type JsonSchema, type OpenApiObject } from './openapi-parts.js';
import { problemSchemas, sharedResponses } from './problem-schema.js';
import { type DataLimits, recordParameters } from './record-parameters.js';
import { recordPaths } from './record-paths.js';
import { systemPaths } from './system-paths.js';
import { systemSchemas } from './system-schemas.js';

export interface OpenApiInfo {
  /** `info.version`: the Groundwork version serving the document. */
  version: string;
  /** Adds `servers: [{ url }]`; without it clients resolve paths against the document's own URL. */
  serverUrl?: string;
  /** The `data` limits in force (page sizes, batch size, expand depth); default: the config defaults. */
  limits?: DataLimits;
  /** Methods that honour Idempotency-Key (`gateway.idempotency.methods`); default: the config default. */
  idempotentMethods?: readonly string[];
}

/** JSON Schema 2020-12, the default dialect of OpenAPI 3.1 Schema Objects, stated explicitly. */
const DIALECT = 'https://spec.openapis.org/oas/3.1/dialect/base';

/**
 * The OpenAPI 3.1 description of this instance's HTTP API, generated from the collections as
 * they are now: one set of record schemas and concrete record paths per collection, the
 * collection admin routes, batch, admin keys, health and metrics; for each auth collection its
 * auth routes (sign-up, sign-in, tokens, sessions, keys) and the admin's user routes; the captured
 * mailbox and the JWKS. Every operation lists its error responses (problem+json, with the codes
 * each may carry) and its security: admin-only routes and rule-`null` operations require the
 * bearer API key; other record operations take it as optional (what the caller sees depends on
 * the collection's rules); user routes take an access token or the session cookie.
 *
 * @example
 *   const doc = buildOpenApi(registry.list(), { version: '0.1.0' });
 *   doc.paths['/api/v1/collections/posts/records'].post.requestBody // → #/components/schemas/PostsCreate
 */
export function buildOpenApi(collections: readonly CollectionDef[], info: OpenApiInfo): OpenApiObject {
  const limits = info.limits ?? configSchema.shape.data.parse(undefined);
  const idempotent =
    info.idempotentMethods ?? configSchema.shape.gateway.parse(undefined).idempotency.methods;
  const sorted = [...collections].sort((a, b) => a.name.localeCompare(b.name));
  const known = new Set(sorted.map((c) => c.name));

  const auth = sorted.filter(isAuthCollection);

  const schemas: Record<string, JsonSchema> = { ...problemSchemas(), ...systemSchemas(), ...authSchemas() };
  const recordPathItems: Record<string, OpenApiObject> = {};
  const authPathItems: Record<string, OpenApiObject> = {};
  for (const def of sorted) {
    Object.assign(schemas, collectionSchemas(def, known));
    Object.assign(recordPathItems, recordPaths(def, limits, idempotent));
  }
  for (const def of auth) {
    Object.assign(schemas, authCollectionSchemas(def, known));
    Object.assign(authPathItems, authPaths(def, idempotent));
  }
  Object.assign(schemas, batchSchemas(sorted, limits.maxBatchOperations));

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: DIALECT,
    info: {
      title: 'Groundwork',
      version: info.version,
      description:
        'The HTTP API of this Groundwork instance, generated from its collections. Errors are RFC 9457 problem details with a stable `code` (docs/errors.md).',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    tags: [
      { name: 'Collections', description: 'Define and change collections (admins).' },
      ...sorted.map((def) => ({ name: def.name, description: `Records of the "${def.name}" collection.` })),
      ...auth.map((def) => ({
        name: `${def.name} auth`,
        description: `Users of the "${def.name}" auth collection: sign-up, sign-in, tokens, sessions, keys (docs/protocols/auth.md).`,
      })),
      { name: 'Auth admin', description: 'Disable, enable and revoke users; the captured mailbox (admins).' },
      { name: 'JWKS', description: 'The public keys that verify access tokens.' },
      { name: 'Batch', description: 'Several record writes in one transaction.' },
      { name: 'Admin keys', description: 'Admin API keys.' },
      { name: 'Health', description: 'Liveness, readiness, metrics.' },
      { name: 'OpenAPI', description: 'This document.' },
    ],
    paths: {
      ...systemPaths(idempotent),
      ...recordPathItems,
      '/api/v1/batch': batchPath(idempotent, limits.maxBatchOperations),
      ...authPathItems,
      ...authSystemPaths(idempotent),
    },
    components: {
      schemas,
      responses: sharedResponses(),
      parameters: recordParameters(limits),
      headers: HEADERS,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            "An API key: `Authorization: Bearer gwk_<prefix>_<secret>` (an admin's, or a user's own, maybe scoped).",
        },
        accessToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            "A user's access token from sign-in or refresh: `Authorization: Bearer <JWT>` (EdDSA, `typ: at+jwt`; keys at /.well-known/jwks.json).",
        },
        sessionCookie: {
          type: 'apiKey',
          in: 'cookie',
          name: 'gw_session',
          description:
            'The session cookie of a cookie sign-in (`__Host-gw_session` over TLS). Used only when no Authorization header is sent; POST, PUT, PATCH and DELETE with it need a same-site proof (X-CSRF-Token, Sec-Fetch-Site or Origin), else 403 `AUTH_ERR_CSRF`.',
        },
      },
    },
  };
}
