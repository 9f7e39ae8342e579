import type { CollectionDef } from '../collections/collection.js';
import { schemaNames } from './collection-schemas.js';
import {
  header,
  type JsonSchema,
  jsonBody,
  jsonContent,
  type OpenApiObject,
  ref,
  security,
} from './openapi-parts.js';
import { errorResponses } from './problem-schema.js';

/**
 * `POST /api/v1/batch` (src/data/http/batch-route.ts): its request lists one branch per
 * operation kind and collection, so `data` is checked against that collection's Create or Patch
 * schema; the result's `body` is one of the record schemas.
 */
export function batchSchemas(
  collections: readonly CollectionDef[],
  maxOperations: number,
): Record<string, JsonSchema> {
  const id = { type: 'string', maxLength: 64 };
  const ifMatch = { type: 'string', maxLength: 256, description: 'As the If-Match header.' };
  const branch = (
    op: string,
    collection: JsonSchema,
    extra: Record<string, JsonSchema>,
    required: string[],
  ) => ({
    type: 'object',
    properties: { op: { const: op }, collection, ...extra },
    required: ['op', 'collection', ...required],
    additionalProperties: false,
  });
  const branches: JsonSchema[] = [];
  for (const def of collections) {
    const names = schemaNames(def.name);
    const collection = { const: def.name };
    branches.push(
      branch('create', collection, { data: ref(names.create) }, ['data']),
      branch('update', collection, { id, data: ref(names.patch), ifMatch }, ['id', 'data']),
      branch('replace', collection, { id, data: ref(names.create), ifMatch }, ['id', 'data']),
      branch('delete', collection, { id, ifMatch }, ['id']),
    );
  }
  const records = collections.map((def) => ref(schemaNames(def.name).record));
  return {
    BatchRequest: {
      type: 'object',
      properties: {
        operations: {
          type: 'array',
          minItems: 1,
          maxItems: maxOperations,
          // With no collection yet no operation can succeed; the shape is still refused or accepted alike.
          items: branches.length > 0 ? { oneOf: branches } : { type: 'object' },
        },
      },
      required: ['operations'],
      additionalProperties: false,
    },
    BatchResponse: {
      type: 'object',
      properties: {
        results: {
          type: 'array',
          description: 'One result per operation, in order.',
          items: {
            type: 'object',
            properties: {
              status: { type: 'integer', enum: [200, 201, 204] },
              etag: { type: 'string' },
              body: records.length > 0 ? { anyOf: records } : { type: 'object' },
            },
            required: ['status'],
            additionalProperties: false,
          },
        },
      },
      required: ['results'],
      additionalProperties: false,
    },
  };
}

export function batchPath(idempotentMethods: readonly string[], maxOperations: number): OpenApiObject {
  const idempotent = idempotentMethods.includes('POST');
  // A failed operation's problem is wrapped in DATA_ERR_BATCH_FAILED under the operation's own status.
  const failed = ['DATA_ERR_BATCH_FAILED'] as const;
  return {
    post: {
      operationId: 'batch',
      tags: ['Batch'],
      summary: `Run up to ${maxOperations} record writes across collections in one transaction, all or nothing`,
      description:
        "Each operation is checked against its collection's rules as if sent alone. On the first failure nothing is committed: the response is DATA_ERR_BATCH_FAILED with the operation's status, `failedIndex` and its problem under `error`.",
      security: security('optional'),
      parameters: idempotent ? [ref('IdempotencyKey', 'parameters')] : [],
      requestBody: jsonBody(ref('BatchRequest')),
      responses: {
        200: {
          description: 'Every operation succeeded.',
          ...(idempotent ? { headers: { 'Idempotent-Replayed': header('Idempotent-Replayed') } } : {}),
          content: jsonContent(ref('BatchResponse')),
        },
        ...errorResponses({
          method: 'POST',
          body: true,
          idempotent,
          codes: ['DATA_ERR_BATCH_INVALID', 'AUTH_ERR_SCOPE', 'DB_ERR_SERIALIZATION_FAILURE', ...failed],
          overrides: { 401: failed, 403: failed, 404: failed, 409: failed, 412: failed },
        }),
      },
    },
  };
}
