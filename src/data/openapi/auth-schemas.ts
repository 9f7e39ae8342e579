import { z } from 'zod';
import { keySchema } from '../../auth/http/account-routes.js';
import {
  emailOnlySchema,
  passwordChangeSchema,
  refreshSchema,
  resetConfirmSchema,
  signInSchema,
  signOutSchema,
  tokenOnlySchema,
} from '../../auth/http/user-auth-routes.js';
import type { CollectionDef } from '../collections/collection.js';
import { collectionSchemas, STORED_DATETIME, schemaBaseName, schemaNames } from './collection-schemas.js';
import { type JsonSchema, ref } from './openapi-parts.js';
import { fromZod, SCOPES } from './system-schemas.js';

/**
 * Schemas of the auth routes (src/auth/http). Request bodies come from the zod schemas those
 * routes validate with, so the document and the routes cannot disagree.
 *
 * Per auth collection (its user record differs): `<Name>SignUp` (request), `<Name>Tokens`
 * (sign-in with tokens, refresh), `<Name>SignIn` (either sign-in answer) and `<Name>Me`. No other
 * schema name ends in SignUp, Tokens, SignIn or Me, and collection schemas end in
 * Record/Create/Patch/List, so these cannot collide.
 */
export function authSchemaNames(collection: string) {
  const base = schemaBaseName(collection);
  return { signUp: `${base}SignUp`, tokens: `${base}Tokens`, signIn: `${base}SignIn`, me: `${base}Me` };
}

/** The schemas every instance has, auth collections or not. */
export function authSchemas(): Record<string, JsonSchema> {
  const key = fromZod(keySchema, 'input');
  const keyProperties = key.properties as Record<string, JsonSchema>;
  return {
    SignInRequest: fromZod(signInSchema, 'input'),
    RefreshRequest: fromZod(refreshSchema, 'input'),
    SignOutRequest: fromZod(signOutSchema, 'input'),
    PasswordChange: fromZod(passwordChangeSchema, 'input'),
    EmailRequest: fromZod(emailOnlySchema, 'input'),
    PasswordResetConfirm: fromZod(resetConfirmSchema, 'input'),
    MailTokenConfirm: fromZod(tokenOnlySchema, 'input'),
    // The route checks scopes in a refinement, which JSON Schema gets as the pattern admin keys use.
    UserKeyRequest: { ...key, properties: { ...keyProperties, scopes: SCOPES } },
    AuthMessage: {
      type: 'object',
      description: 'The same answer whether or not the address is known (no enumeration).',
      properties: { message: { type: 'string' } },
      required: ['message'],
      additionalProperties: false,
    },
    UserSessions: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              current: { type: 'boolean', description: 'The session this request came with.' },
              ip: { type: ['string', 'null'] },
              userAgent: { type: ['string', 'null'] },
              created: STORED_DATETIME,
              lastSeen: STORED_DATETIME,
              expires: STORED_DATETIME,
            },
            required: ['id', 'current', 'ip', 'userAgent', 'created', 'lastSeen', 'expires'],
            additionalProperties: false,
          },
        },
      },
      required: ['items'],
      additionalProperties: false,
    },
    CapturedMails: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          description: 'Oldest first.',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              from: { type: 'string' },
              to: { type: 'string' },
              subject: { type: 'string' },
              text: { type: 'string' },
              html: { type: ['string', 'null'] },
              headers: { type: 'object', additionalProperties: { type: 'string' } },
              sentAt: { type: 'string', format: 'date-time' },
            },
            required: ['id', 'from', 'to', 'subject', 'text', 'html', 'headers', 'sentAt'],
            additionalProperties: false,
          },
        },
      },
      required: ['items'],
      additionalProperties: false,
    },
    JsonWebKeySet: {
      type: 'object',
      description: 'RFC 7517 key set: the Ed25519 keys that verify access tokens, newest first.',
      properties: {
        keys: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              kty: { const: 'OKP' },
              crv: { const: 'Ed25519' },
              x: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
              kid: { type: 'string' },
              alg: { const: 'EdDSA' },
              use: { const: 'sig' },
            },
            required: ['kty', 'crv', 'x', 'kid', 'alg', 'use'],
            additionalProperties: false,
          },
        },
      },
      required: ['keys'],
      additionalProperties: false,
    },
  };
}

/** The schemas of one auth collection. */
export function authCollectionSchemas(
  def: CollectionDef,
  known: ReadonlySet<string>,
): Record<string, JsonSchema> {
  const names = authSchemaNames(def.name);
  const user = ref(schemaNames(def.name).record);
  // Sign-up checks email and password with the route's own schema, then creates the record from
  // the other members: the collection's create body, less `verified` (set by verification).
  const credentials = fromZod(
    z.strictObject({ email: emailOnlySchema.shape.email, password: resetConfirmSchema.shape.password }),
    'input',
  );
  const create = collectionSchemas(def, known)[schemaNames(def.name).create] as JsonSchema;
  const { verified: _verified, ...fields } = create.properties as Record<string, JsonSchema>;
  const given = credentials.properties as Record<string, JsonSchema>;
  return {
    [names.signUp]: {
      type: 'object',
      description: `Sign-up for "${def.name}": email, password and the collection's own fields (not \`verified\`).`,
      properties: {
        ...fields,
        email: { ...given.email, format: 'email', description: 'Trimmed and stored lower-case.' },
        password: given.password,
      },
      required: [...new Set(['email', 'password', ...(create.required as string[])])],
      additionalProperties: false,
    },
    [names.tokens]: {
      type: 'object',
      description: 'A token session (RFC 6749 §5.1 field names) and the signed-in user.',
      properties: {
        access_token: {
          type: 'string',
          pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
          description: 'An EdDSA JWT (`typ: at+jwt`); send as `Authorization: Bearer <token>`.',
        },
        token_type: { const: 'Bearer' },
        expires_in: { type: 'integer', minimum: 0, description: 'Seconds the access token stays valid.' },
        refresh_token: {
          type: 'string',
          pattern: '^gwr_[A-Za-z0-9_-]{43}$',
          description: 'Single use: each refresh returns a new one; a reused one ends the whole family.',
        },
        user,
      },
      required: ['access_token', 'token_type', 'expires_in', 'refresh_token', 'user'],
      additionalProperties: false,
    },
    [names.signIn]: {
      description:
        'With `session: "token"` (the default) the tokens; with `"cookie"` the user and the CSRF token.',
      oneOf: [
        ref(names.tokens),
        {
          type: 'object',
          properties: {
            user,
            csrfToken: {
              type: 'string',
              description: 'Send as X-CSRF-Token on cookie-authenticated writes from other origins.',
            },
          },
          required: ['user', 'csrfToken'],
          additionalProperties: false,
        },
      ],
    },
    [names.me]: {
      type: 'object',
      properties: {
        user,
        via: { type: 'string', enum: ['session', 'token', 'key'], description: 'How the caller signed in.' },
        scopes: { type: 'array', items: { type: 'string' }, description: 'A scoped API key: its scopes.' },
      },
      required: ['user', 'via'],
      additionalProperties: false,
    },
  };
}
