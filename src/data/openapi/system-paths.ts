import type { ErrorCode } from '../../core/error-codes.js';
import {
  header,
  type JsonSchema,
  jsonBody,
  jsonContent,
  type OpenApiObject,
  ref,
  type Security,
  security,
} from './openapi-parts.js';
import { errorResponses } from './problem-schema.js';

/**
 * The routes that do not depend on the collections: collection administration, admin API keys,
 * health, metrics and this document itself (their schemas are in system-schemas.ts).
 */

interface Operation {
  id: string;
  tag: string;
  summary: string;
  access: Security;
  responses: OpenApiObject;
  body?: JsonSchema;
  bodyOptional?: boolean;
  codes?: ErrorCode[];
  parameters?: OpenApiObject[];
}

export function systemPaths(idempotentMethods: readonly string[]): Record<string, OpenApiObject> {
  const op = (method: string, o: Operation): OpenApiObject => {
    const idempotent = o.body !== undefined && idempotentMethods.includes(method);
    return {
      operationId: o.id,
      tags: [o.tag],
      summary: o.summary,
      security: security(o.access),
      ...(o.parameters || idempotent
        ? {
            parameters: [
              ...(o.parameters ?? []),
              ...(idempotent ? [ref('IdempotencyKey', 'parameters')] : []),
            ],
          }
        : {}),
      ...(o.body ? { requestBody: jsonBody(o.body, !o.bodyOptional) } : {}),
      responses: {
        ...o.responses,
        ...errorResponses({
          method,
          admin: o.access === 'admin',
          body: o.body !== undefined,
          idempotent,
          codes: o.codes ?? [],
        }),
      },
    };
  };
  const ok = (description: string, schema: string, headers?: OpenApiObject) => ({
    description,
    ...(headers ? { headers } : {}),
    content: jsonContent(ref(schema)),
  });
  const nameParam = {
    name: 'name',
    in: 'path',
    required: true,
    description: 'Collection name.',
    schema: { type: 'string' },
  };
  const keyIdParam = {
    name: 'id',
    in: 'path',
    required: true,
    description: 'API key id.',
    schema: { type: 'string' },
  };
  const noStore = { 'Cache-Control': header('Cache-Control') };
  const T = 'Collections';
  return {
    '/api/v1/collections': {
      get: op('GET', {
        id: 'listCollections',
        tag: T,
        summary: 'List collections',
        access: 'admin',
        responses: { 200: ok('Every collection.', 'Collections') },
      }),
      post: op('POST', {
        id: 'createCollection',
        tag: T,
        summary: 'Define a collection (creates its table, columns and indexes)',
        access: 'admin',
        body: ref('CollectionDefinition'),
        codes: ['DATA_ERR_COLLECTION_INVALID', 'DATA_ERR_COLLECTION_EXISTS', 'DB_ERR_SERIALIZATION_FAILURE'],
        responses: {
          201: ok('The stored definition.', 'Collection', { Location: header('Location', true) }),
        },
      }),
    },
    '/api/v1/collections/{name}': {
      parameters: [nameParam],
      get: op('GET', {
        id: 'getCollection',
        tag: T,
        summary: 'Get a collection',
        access: 'admin',
        codes: ['DATA_ERR_COLLECTION_NOT_FOUND'],
        responses: { 200: ok('The definition.', 'Collection') },
      }),
      patch: op('PATCH', {
        id: 'changeCollection',
        tag: T,
        summary:
          'Change a collection: drop indexes and fields, rename fields, add fields and indexes, set rules (in one transaction)',
        access: 'admin',
        body: ref('CollectionChange'),
        bodyOptional: true,
        codes: [
          'DATA_ERR_COLLECTION_INVALID',
          'DATA_ERR_COLLECTION_NOT_FOUND',
          'DATA_ERR_SCHEMA_CONFLICT',
          'DB_ERR_SERIALIZATION_FAILURE',
        ],
        responses: { 200: ok('The changed definition.', 'Collection') },
      }),
      delete: op('DELETE', {
        id: 'deleteCollection',
        tag: T,
        summary: 'Drop a collection and its records',
        access: 'admin',
        codes: ['DATA_ERR_COLLECTION_NOT_FOUND', 'DATA_ERR_SCHEMA_CONFLICT', 'DB_ERR_SERIALIZATION_FAILURE'],
        responses: { 204: { description: 'Dropped.' } },
      }),
    },
    '/api/v1/admin/keys': {
      get: op('GET', {
        id: 'listApiKeys',
        tag: 'Admin keys',
        summary: 'List admin API keys',
        access: 'admin',
        responses: { 200: ok('Every key (never the secret).', 'ApiKeys') },
      }),
      post: op('POST', {
        id: 'createApiKey',
        tag: 'Admin keys',
        summary: 'Create an admin API key (shown once)',
        access: 'admin',
        body: ref('ApiKeyRequest'),
        codes: ['HTTP_ERR_VALIDATION'],
        responses: { 201: ok('The key, with its secret.', 'ApiKeyCreated', noStore) },
      }),
    },
    '/api/v1/admin/keys/{id}': {
      parameters: [keyIdParam],
      delete: op('DELETE', {
        id: 'revokeApiKey',
        tag: 'Admin keys',
        summary: 'Revoke an admin API key',
        access: 'admin',
        codes: ['HTTP_ERR_NOT_FOUND'],
        responses: { 204: { description: 'Revoked.' } },
      }),
    },
    '/api/v1/openapi.json': {
      get: op('GET', {
        id: 'getOpenApi',
        tag: 'OpenAPI',
        summary: 'This document, generated from the current collections',
        access: 'admin',

        responses: {
          200: {
            description: 'OpenAPI 3.1 document.',
            headers: noStore,
            content: jsonContent({ type: 'object' }),
          },
        },
      }),
    },
    '/healthz': {
      get: op('GET', {
        id: 'health',
        tag: 'Health',
        summary: 'Liveness: the process serves requests',
        access: 'none',
        responses: { 200: ok('Alive.', 'Health', noStore) },
      }),
    },
    '/readyz': {
      get: op('GET', {
        id: 'readiness',
        tag: 'Health',
        summary: 'Readiness: every dependency answers',
        access: 'none',

        codes: ['CORE_ERR_NOT_READY'],
        responses: { 200: ok('Ready; `checks` gives each dependency.', 'Readiness', noStore) },
      }),
    },
    '/metrics': {
      get: op('GET', {
        id: 'metrics',
        tag: 'Health',
        summary: 'Prometheus metrics (text exposition format)',
        access: 'none',

        responses: {
          200: { description: 'Metrics.', content: { 'text/plain': { schema: { type: 'string' } } } },
        },
      }),
    },
  };
}
