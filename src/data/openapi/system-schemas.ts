import { z } from 'zod';
import { MAX_SCOPES } from '../../auth/scopes.js';
import { collectionInputSchema, collectionPatchSchema } from '../collections/collection.js';
import { RECORD_ID, STORED_DATETIME } from './collection-schemas.js';
import { type JsonSchema, ref } from './openapi-parts.js';

/**
 * Schemas of the routes that do not depend on the collections. Collection definitions are taken
 * from the same zod schemas the collection routes parse with, so they cannot drift apart.
 */

/** A zod schema as a JSON Schema 2020-12 component (without the `$schema` of a root document). */
export function fromZod(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
  }) as JsonSchema;
  return rest;
}

/** `collection:operation` API-key scopes, as src/auth/scopes.ts checks them. */
export const SCOPES: JsonSchema = {
  type: 'array',
  minItems: 1,
  maxItems: MAX_SCOPES,
  items: {
    type: 'string',
    pattern: '^(\\*|[a-z][a-z0-9_]{0,47}):(list|view|create|update|delete|\\*)$',
  },
};

export function systemSchemas(): Record<string, JsonSchema> {
  const stored = fromZod(collectionInputSchema, 'output');
  const nullableTime = { ...STORED_DATETIME, type: ['string', 'null'] };
  const apiKey = {
    id: RECORD_ID,
    name: { type: 'string' },
    prefix: { type: 'string', pattern: '^[a-z0-9]{8}$' },
    role: { type: 'string', enum: ['admin', 'user'] },
    created: STORED_DATETIME,
    expiresAt: nullableTime,
    revokedAt: nullableTime,
    lastUsedAt: nullableTime,
    owner: {
      description: 'The owning user of a `user` key; null for admin keys.',
      oneOf: [
        {
          type: 'object',
          properties: { collection: { type: 'string' }, id: RECORD_ID },
          required: ['collection', 'id'],
          additionalProperties: false,
        },
        { type: 'null' },
      ],
    },
    scopes: {
      description: '`collection:operation` scopes the key is limited to; null: unscoped.',
      type: ['array', 'null'],
      items: { type: 'string' },
    },
  };
  const apiKeyRequired = Object.keys(apiKey);
  return {
    CollectionDefinition: fromZod(collectionInputSchema, 'input'),
    CollectionChange: fromZod(collectionPatchSchema, 'input'),
    Collection: {
      ...stored,
      properties: {
        ...(stored.properties as Record<string, JsonSchema>),
        created: STORED_DATETIME,
        updated: STORED_DATETIME,
      },
      required: [...((stored.required as string[] | undefined) ?? []), 'created', 'updated'],
    },
    Collections: {
      type: 'object',
      properties: { items: { type: 'array', items: ref('Collection') } },
      required: ['items'],
      additionalProperties: false,
    },
    ApiKey: { type: 'object', properties: apiKey, required: apiKeyRequired, additionalProperties: false },
    ApiKeyCreated: {
      type: 'object',
      description: 'The new key: `key` is shown this once and never again.',
      properties: { ...apiKey, key: { type: 'string', pattern: '^gwk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$' } },
      required: [...apiKeyRequired, 'key'],
      additionalProperties: false,
    },
    ApiKeyRequest: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 100 },
        expiresAt: { type: 'string', format: 'date-time' },
        scopes: SCOPES,
      },
      required: ['name'],
      additionalProperties: false,
    },
    ApiKeys: {
      type: 'object',
      properties: { items: { type: 'array', items: ref('ApiKey') } },
      required: ['items'],
      additionalProperties: false,
    },
    Health: {
      type: 'object',
      properties: { status: { const: 'ok' } },
      required: ['status'],
      additionalProperties: false,
    },
    Readiness: {
      type: 'object',
      properties: {
        status: { const: 'ok' },
        checks: { type: 'object', additionalProperties: { const: 'ok' } },
      },
      required: ['status', 'checks'],
      additionalProperties: false,
    },
  };
}
