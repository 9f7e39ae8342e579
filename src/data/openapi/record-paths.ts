import type { ErrorCode } from '../../core/error-codes.js';
import type { CollectionDef, RuleName } from '../collections/collection.js';
import { schemaBaseName, schemaNames } from './collection-schemas.js';
import {
  header,
  jsonBody,
  jsonContent,
  type OpenApiObject,
  ref,
  type Security,
  security,
} from './openapi-parts.js';
import { errorResponses } from './problem-schema.js';
import { type DataLimits, shapeParameters, sortParameter } from './record-parameters.js';

interface Access {
  security: Security;
  codes: ErrorCode[];
  note: string;
}

/** Who may do `operation` on the collection, from its rule (admins bypass rules). */
function accessOf(def: CollectionDef, operation: RuleName): Access {
  const rule = def.rules[operation];
  if (rule === null)
    return {
      security: 'admin',
      codes: ['AUTH_ERR_UNAUTHENTICATED', 'AUTH_ERR_FORBIDDEN'],
      note: 'Access: admins only (rule `null`).',
    };
  if (rule.trim() === '') return { security: 'optional', codes: [], note: 'Access: anyone (empty rule).' };
  const writes = operation === 'create' || operation === 'update';
  return {
    security: 'optional',
    codes: writes ? ['AUTH_ERR_FORBIDDEN'] : [],
    note: writes
      ? `Access: the new value must satisfy \`${rule}\` (else 403); admins bypass.`
      : `Access: only records matching \`${rule}\` exist for the caller; admins see all.`,
  };
}

/**
 * The caching headers of a successful read (src/data/cache/http-caching.ts): Cache-Control from
 * the rules involved and the collection's `cache.httpCache`, and `Vary` on the credentials.
 */
const READ_CACHING = {
  'Cache-Control': header('Cache-Control', true, {
    description:
      '`no-store` when a rule other than `""` takes part in the read, else `no-cache`; with the collection\'s `cache.httpCache`: `private, max-age=N` (`private, no-cache` for 0), or `public, …` for anonymous callers when no rule protects the data.',
    schema: { type: 'string', pattern: '^(no-store|no-cache|(private|public), (max-age=\\d+|no-cache))$' },
  }),
  Vary: header('Vary', true),
};

const WRITE_CODES: ErrorCode[] = [
  'DATA_ERR_COLLECTION_NOT_FOUND',
  'DATA_ERR_VALIDATION',
  'DB_ERR_UNIQUE_VIOLATION',
  'DB_ERR_FOREIGN_KEY_VIOLATION',
  'DB_ERR_SERIALIZATION_FAILURE',
];

/** The concrete record paths of one collection: `/records` (list, create) and `/records/{id}`. */
export function recordPaths(
  def: CollectionDef,
  limits: DataLimits,
  idempotentMethods: readonly string[],
): Record<string, OpenApiObject> {
  const names = schemaNames(def.name);
  const base = `/api/v1/collections/${def.name}/records`;
  const tags = [def.name];
  const idempotent = (method: string) => idempotentMethods.includes(method);
  const keyParam = (method: string) => (idempotent(method) ? [ref('IdempotencyKey', 'parameters')] : []);
  const replayed = (method: string) =>
    idempotent(method) ? { 'Idempotent-Replayed': header('Idempotent-Replayed') } : {};
  const op = (
    method: string,
    operation: RuleName,
    parts: { id: string; summary: string; codes: ErrorCode[]; body?: boolean } & OpenApiObject,
  ) => {
    const access = accessOf(def, operation);
    const { id, summary, codes, body, responses, ...rest } = parts;
    return {
      operationId: id,
      tags,
      summary,
      description: access.note,
      security: security(access.security),
      ...rest,
      responses: {
        ...(responses as OpenApiObject),
        ...errorResponses({
          method,
          body: body === true,
          idempotent: idempotent(method),
          // A scoped API key used outside its scopes.
          codes: [...codes, ...access.codes, 'AUTH_ERR_SCOPE'],
        }),
      },
    };
  };
  const recordResponse = (description: string, method: string, extra: OpenApiObject = {}) => ({
    description,
    headers: { ETag: header('ETag', true), ...extra, ...replayed(method) },
    content: jsonContent(ref(names.record)),
  });
  const pascal = schemaBaseName(def.name);

  return {
    [base]: {
      get: op('GET', 'list', {
        id: `list${pascal}Records`,
        summary: `List "${def.name}" records`,
        codes: [
          'DATA_ERR_COLLECTION_NOT_FOUND',
          'DATA_ERR_QUERY_INVALID',
          'DATA_ERR_FILTER_SYNTAX',
          'DATA_ERR_FILTER_FIELD',
          'DATA_ERR_FILTER_VALUE',
          'DATA_ERR_FILTER_LIMIT',
          'DATA_ERR_SORT_INVALID',
          'DATA_ERR_CURSOR_INVALID',
        ],
        parameters: [
          ref('Filter', 'parameters'),
          sortParameter(def),
          ref('Limit', 'parameters'),
          ref('Cursor', 'parameters'),
          ref('Offset', 'parameters'),
          ...shapeParameters(def, limits),
          ref('Total', 'parameters'),
        ],
        responses: {
          200: {
            description: 'A page of records.',
            headers: { ...READ_CACHING, Link: header('Link') },
            content: jsonContent(ref(names.list)),
          },
        },
      }),
      post: op('POST', 'create', {
        id: `create${pascal}Record`,
        summary: `Create a "${def.name}" record`,
        codes: WRITE_CODES,
        body: true,
        parameters: keyParam('POST'),
        requestBody: jsonBody(ref(names.create)),
        responses: {
          201: recordResponse('The created record.', 'POST', { Location: header('Location', true) }),
        },
      }),
    },
    [`${base}/{id}`]: {
      parameters: [
        { name: 'id', in: 'path', required: true, description: 'Record id.', schema: { type: 'string' } },
      ],
      get: op('GET', 'view', {
        id: `get${pascal}Record`,
        summary: `Get a "${def.name}" record`,
        codes: ['DATA_ERR_COLLECTION_NOT_FOUND', 'DATA_ERR_RECORD_NOT_FOUND', 'DATA_ERR_QUERY_INVALID'],
        parameters: [
          ...shapeParameters(def, limits),
          ref('IfNoneMatch', 'parameters'),
          {
            name: 'If-Modified-Since',
            in: 'header',
            required: false,
            description:
              'An HTTP date: 304 when the record has not changed since (ignored with If-None-Match or `expand`).',
            schema: { type: 'string' },
          },
        ],
        responses: {
          200: recordResponse('The record.', 'GET', {
            ...READ_CACHING,
            'Last-Modified': header('Last-Modified'),
          }),
          304: {
            description:
              'Not modified: If-None-Match names the current ETag, or the record has not changed since If-Modified-Since.',
            headers: {
              ETag: header('ETag', true),
              ...READ_CACHING,
              'Last-Modified': header('Last-Modified', true),
            },
          },
        },
      }),
      patch: op('PATCH', 'update', {
        id: `update${pascal}Record`,
        summary: `Update some fields of a "${def.name}" record`,
        codes: [...WRITE_CODES, 'DATA_ERR_RECORD_NOT_FOUND', 'DATA_ERR_PRECONDITION_FAILED'],
        body: true,
        parameters: [ref('IfMatch', 'parameters'), ...keyParam('PATCH')],
        requestBody: jsonBody(ref(names.patch)),
        responses: { 200: recordResponse('The updated record.', 'PATCH') },
      }),
      put: op('PUT', 'update', {
        id: `replace${pascal}Record`,
        summary: `Replace a "${def.name}" record (absent fields take their default, else null)`,
        codes: [...WRITE_CODES, 'DATA_ERR_RECORD_NOT_FOUND', 'DATA_ERR_PRECONDITION_FAILED'],
        body: true,
        parameters: [ref('IfMatch', 'parameters'), ...keyParam('PUT')],
        requestBody: jsonBody(ref(names.create)),
        responses: { 200: recordResponse('The replaced record.', 'PUT') },
      }),
      delete: op('DELETE', 'delete', {
        id: `delete${pascal}Record`,
        summary: `Delete a "${def.name}" record (relations pointing here apply their onDelete)`,
        codes: [
          'DATA_ERR_COLLECTION_NOT_FOUND',
          'DATA_ERR_RECORD_NOT_FOUND',
          'DATA_ERR_PRECONDITION_FAILED',
          'DATA_ERR_REFERENCED',
          'DATA_ERR_SCHEMA_CONFLICT',
          'DB_ERR_SERIALIZATION_FAILURE',
        ],
        parameters: [ref('IfMatch', 'parameters'), ...keyParam('DELETE')],
        responses: {
          204: { description: 'Deleted.', ...(idempotent('DELETE') ? { headers: replayed('DELETE') } : {}) },
        },
      }),
    },
  };
}
