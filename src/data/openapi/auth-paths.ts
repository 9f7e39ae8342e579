import type { ErrorCode } from '../../core/error-codes.js';
import type { CollectionDef } from '../collections/collection.js';
import { authSchemaNames } from './auth-schemas.js';
import { schemaBaseName } from './collection-schemas.js';
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
 * The auth routes (src/auth/http, docs/protocols/auth.md): per auth collection its
 * `/api/v1/collections/<name>/auth/*` routes and the admin's user routes, plus the captured
 * mailbox and the JWKS. Each operation states who may call it, as the gateway (`access`) and the
 * route enforce it: nobody in particular, a signed-in user of the collection (access token,
 * session cookie, and for `me` also the user's API key), or an admin.
 */

/** Security requirements (OpenAPI: any one of the listed objects satisfies the operation). */
const TOKEN = { accessToken: [] };
const COOKIE = { sessionCookie: [] };
const KEY = { bearerAuth: [] };

const CSRF_NOTE =
  'A request that carries a live session cookie (and no Authorization header) must also prove it comes from this site: `X-CSRF-Token`, `Sec-Fetch-Site: same-origin`, or an allowed `Origin`; else 403 `AUTH_ERR_CSRF`.';

const CSRF_PARAMETER = {
  name: 'X-CSRF-Token',
  in: 'header',
  required: false,
  description: 'The `csrfToken` of a cookie sign-in: proves a cookie-authenticated write is same-site.',
  schema: { type: 'string' },
};

const ID_PARAMETER = (description: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

interface AuthOperation {
  id: string;
  tag: string;
  summary: string;
  description?: string;
  security: OpenApiObject[];
  responses: Record<string, OpenApiObject>;
  body?: JsonSchema;
  bodyOptional?: boolean;
  codes?: ErrorCode[];
  parameters?: OpenApiObject[];
  admin?: boolean;
}

/** Builds operations; POST/DELETE get the CSRF parameter and code, and Idempotency-Key when honoured. */
function operations(idempotentMethods: readonly string[]) {
  return (method: 'GET' | 'POST' | 'DELETE', o: AuthOperation): OpenApiObject => {
    const unsafe = method !== 'GET';
    const idempotent = idempotentMethods.includes(method);
    const parameters = [
      ...(o.parameters ?? []),
      ...(unsafe ? [CSRF_PARAMETER] : []),
      ...(idempotent ? [ref('IdempotencyKey', 'parameters')] : []),
    ];
    const responses: Record<string, OpenApiObject> = {};
    for (const [status, response] of Object.entries(o.responses)) {
      responses[status] = idempotent
        ? {
            ...response,
            headers: {
              ...(response.headers as OpenApiObject),
              'Idempotent-Replayed': header('Idempotent-Replayed'),
            },
          }
        : response;
    }
    const notes = [o.description, unsafe ? CSRF_NOTE : undefined].filter(Boolean);
    return {
      operationId: o.id,
      tags: [o.tag],
      summary: o.summary,
      ...(notes.length > 0 ? { description: notes.join('\n\n') } : {}),
      security: o.security,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(o.body ? { requestBody: jsonBody(o.body, !o.bodyOptional) } : {}),
      responses: {
        ...responses,
        ...errorResponses({
          method,
          admin: o.admin === true,
          body: o.body !== undefined,
          idempotent,
          codes: o.codes ?? [],
        }),
      },
    };
  };
}

const noStore = (required = true) => ({ 'Cache-Control': header('Cache-Control', required) });
const json = (description: string, schema: string, headers?: OpenApiObject) => ({
  description,
  ...(headers ? { headers } : {}),
  content: jsonContent(ref(schema)),
});

/** Who may sign up: the collection's create rule (admins bypass it). */
function signUpAccess(def: CollectionDef): { security: OpenApiObject[]; codes: ErrorCode[]; note: string } {
  const rule = def.rules.create;
  if (rule === null)
    return {
      security: security('admin'),
      codes: ['AUTH_ERR_UNAUTHENTICATED', 'AUTH_ERR_FORBIDDEN'],
      note: 'Access: admins only (create rule `null`), except that a taken email gets the same 202 as always.',
    };
  if (rule.trim() === '') return { security: [], codes: [], note: 'Access: anyone (create rule `""`).' };
  return {
    security: [{}, KEY, TOKEN, COOKIE],
    codes: ['AUTH_ERR_FORBIDDEN'],
    note: `Access: the new user must satisfy the create rule \`${rule}\` for the caller (else 403); admins bypass.`,
  };
}

/** The auth routes of one auth collection, and the admin's routes for its users. */
export function authPaths(
  def: CollectionDef,
  idempotentMethods: readonly string[],
): Record<string, OpenApiObject> {
  const op = operations(idempotentMethods);
  const names = authSchemaNames(def.name);
  const pascal = schemaBaseName(def.name);
  const base = `/api/v1/collections/${def.name}/auth`;
  const admin = `/api/v1/admin/collections/${def.name}/users/{id}`;
  const tag = `${def.name} auth`;
  const collection: ErrorCode = 'AUTH_ERR_NOT_AUTH_COLLECTION';
  // The gateway refuses anonymous callers (401) and non-users (403); the route, users of another collection (403).
  const signedIn: ErrorCode[] = ['AUTH_ERR_UNAUTHENTICATED', 'AUTH_ERR_FORBIDDEN', collection];
  const account = {
    security: [TOKEN, COOKIE],
    description: `Access: a signed-in user of "${def.name}" with an access token or the session cookie; an API key is refused (403).`,
  };
  const signUp = signUpAccess(def);
  const message = (description: string, headers?: OpenApiObject) => ({
    202: json(description, 'AuthMessage', headers),
  });
  const done = (description: string, headers?: OpenApiObject) => ({
    204: { description, ...(headers ? { headers } : {}) },
  });
  const clearCookie = {
    'Set-Cookie': header('Set-Cookie', false, {
      description: 'Clears the session cookie (`Max-Age=0`) when the request carried one.',
    }),
  };
  const adminUser = (verb: string, summary: string, codes: ErrorCode[]) =>
    op('POST', {
      id: `${verb}${pascal}User`,
      tag: 'Auth admin',
      summary,
      security: security('admin'),
      admin: true,
      codes: [collection, ...codes],
      responses: done('Done.'),
    });

  return {
    [`${base}/sign-up`]: {
      post: op('POST', {
        id: `signUp${pascal}`,
        tag,
        summary: `Sign up as a "${def.name}" user; a verification mail follows`,
        description: signUp.note,
        security: signUp.security,
        admin: def.rules.create === null,
        body: ref(names.signUp),
        codes: [
          'HTTP_ERR_VALIDATION',
          'DATA_ERR_VALIDATION',
          'DATA_ERR_AUTH_FIELD',
          'AUTH_ERR_SCOPE',
          'DB_ERR_FOREIGN_KEY_VIOLATION',
          'DB_ERR_SERIALIZATION_FAILURE',
          collection,
          ...signUp.codes,
        ],
        responses: message('Accepted, whether or not the email was taken (no enumeration).', noStore()),
      }),
    },
    [`${base}/sign-in`]: {
      post: op('POST', {
        id: `signIn${pascal}`,
        tag,
        summary: 'Sign in with email and password: tokens, or a session cookie',
        description:
          '`session: "token"` (default) starts a token session; `"cookie"` sets the session cookie (a new secret each time: no fixation). Wrong email, wrong password and a disabled user are one 401. Failed attempts are counted per account and client IP: 429 `AUTH_ERR_TOO_MANY_ATTEMPTS` or 423 `AUTH_ERR_ACCOUNT_LOCKED`, with Retry-After.',
        security: [],
        body: ref('SignInRequest'),
        codes: [
          'HTTP_ERR_VALIDATION',
          collection,
          'AUTH_ERR_TOO_MANY_ATTEMPTS',
          'AUTH_ERR_ACCOUNT_LOCKED',
          'AUTH_ERR_GUARD_UNAVAILABLE',
        ],
        responses: {
          200: json('Signed in.', names.signIn, {
            ...noStore(),
            'Set-Cookie': header('Set-Cookie', false, {
              description:
                'Cookie mode: the session cookie (HttpOnly, SameSite=Lax; `__Host-` and Secure over TLS).',
            }),
          }),
        },
      }),
    },
    [`${base}/refresh`]: {
      post: op('POST', {
        id: `refresh${pascal}Tokens`,
        tag,
        summary: 'Exchange a refresh token for a new pair (each refresh token works once)',
        description: 'Presenting a spent refresh token ends its whole token session (401).',
        security: [],
        body: ref('RefreshRequest'),
        codes: ['HTTP_ERR_VALIDATION', collection, 'AUTH_ERR_INVALID_REFRESH_TOKEN'],
        responses: { 200: json('A new pair.', names.tokens, noStore()) },
      }),
    },
    [`${base}/sign-out`]: {
      post: op('POST', {
        id: `signOut${pascal}`,
        tag,
        summary:
          'Sign out: ends the cookie session, the access token’s token session and/or a refresh token’s',
        security: [{}, TOKEN, COOKIE],
        body: ref('SignOutRequest'),
        bodyOptional: true,
        codes: ['HTTP_ERR_VALIDATION', collection],
        responses: done('Signed out (also when there was nothing to end).', clearCookie),
      }),
    },
    [`${base}/me`]: {
      get: op('GET', {
        id: `get${pascal}Me`,
        tag,
        summary: 'The signed-in user',
        description: `Access: a signed-in user of "${def.name}" (access token, session cookie or their API key).`,
        security: [TOKEN, COOKIE, KEY],
        codes: signedIn,
        responses: { 200: json('The user and how they signed in.', names.me, noStore()) },
      }),
    },
    [`${base}/password`]: {
      post: op('POST', {
        id: `change${pascal}Password`,
        tag,
        summary: 'Change the password (ends the other sessions and token sessions)',
        ...account,
        body: ref('PasswordChange'),
        codes: ['HTTP_ERR_VALIDATION', ...signedIn],
        responses: done('Changed.'),
      }),
    },
    [`${base}/password-reset/request`]: {
      post: op('POST', {
        id: `request${pascal}PasswordReset`,
        tag,
        summary: 'Mail a password-reset token (if the address has an account)',
        security: [],
        body: ref('EmailRequest'),
        codes: ['HTTP_ERR_VALIDATION', collection],
        responses: message('Accepted, whether or not the address has an account.'),
      }),
    },
    [`${base}/password-reset/confirm`]: {
      post: op('POST', {
        id: `confirm${pascal}PasswordReset`,
        tag,
        summary: 'Set a new password with a mailed reset token (ends every session of the user)',
        security: [],
        body: ref('PasswordResetConfirm'),
        codes: [
          'HTTP_ERR_VALIDATION',
          collection,
          'AUTH_ERR_INVALID_MAIL_TOKEN',
          'AUTH_ERR_GUARD_UNAVAILABLE',
        ],
        responses: done('Password set.'),
      }),
    },
    [`${base}/verification/request`]: {
      post: op('POST', {
        id: `request${pascal}Verification`,
        tag,
        summary: 'Mail a verification token (if the address has an unverified account)',
        security: [],
        body: ref('EmailRequest'),
        codes: ['HTTP_ERR_VALIDATION', collection],
        responses: message('Accepted, whether or not the address has an unverified account.'),
      }),
    },
    [`${base}/verification/confirm`]: {
      post: op('POST', {
        id: `confirm${pascal}Verification`,
        tag,
        summary: 'Verify the email with a mailed token (`verified` becomes true)',
        security: [],
        body: ref('MailTokenConfirm'),
        codes: [
          'HTTP_ERR_VALIDATION',
          collection,
          'AUTH_ERR_INVALID_MAIL_TOKEN',
          'DB_ERR_SERIALIZATION_FAILURE',
        ],
        responses: done('Verified.'),
      }),
    },
    [`${base}/sessions`]: {
      get: op('GET', {
        id: `list${pascal}Sessions`,
        tag,
        summary: 'The user’s cookie sessions',
        ...account,
        codes: signedIn,
        responses: { 200: json('Every live session of the user.', 'UserSessions', noStore()) },
      }),
    },
    [`${base}/sessions/{id}`]: {
      parameters: [ID_PARAMETER('Session id.')],
      delete: op('DELETE', {
        id: `revoke${pascal}Session`,
        tag,
        summary: 'End one of the user’s cookie sessions',
        ...account,
        codes: [...signedIn, 'HTTP_ERR_NOT_FOUND'],
        responses: done('Ended.'),
      }),
    },
    [`${base}/keys`]: {
      get: op('GET', {
        id: `list${pascal}UserKeys`,
        tag,
        summary: 'The user’s API keys (never the secret)',
        ...account,
        codes: signedIn,
        responses: { 200: json('Every key of the user.', 'ApiKeys', noStore()) },
      }),
      post: op('POST', {
        id: `create${pascal}UserKey`,
        tag,
        summary: 'Create a scoped API key for the user (shown once)',
        ...account,
        body: ref('UserKeyRequest'),
        codes: ['HTTP_ERR_VALIDATION', ...signedIn],
        responses: { 201: json('The key, with its secret.', 'ApiKeyCreated', noStore()) },
      }),
    },
    [`${base}/keys/{id}`]: {
      parameters: [ID_PARAMETER('API key id.')],
      delete: op('DELETE', {
        id: `revoke${pascal}UserKey`,
        tag,
        summary: 'Revoke one of the user’s API keys',
        ...account,
        codes: [...signedIn, 'HTTP_ERR_NOT_FOUND'],
        responses: done('Revoked.'),
      }),
    },
    [`${admin}/disable`]: {
      parameters: [ID_PARAMETER('User id.')],
      post: adminUser(
        'disable',
        `Disable a "${def.name}" user: ends their sessions, token sessions and API keys`,
        ['DATA_ERR_RECORD_NOT_FOUND'],
      ),
    },
    [`${admin}/enable`]: {
      parameters: [ID_PARAMETER('User id.')],
      post: adminUser('enable', `Enable a disabled "${def.name}" user`, ['DATA_ERR_RECORD_NOT_FOUND']),
    },
    [`${admin}/revoke`]: {
      parameters: [ID_PARAMETER('User id.')],
      post: adminUser(
        'revoke',
        `End every session, token session, API key and mailed token of a "${def.name}" user`,
        [],
      ),
    },
  };
}

/** Auth routes that do not depend on the collections: the captured mailbox and the JWKS. */
export function authSystemPaths(idempotentMethods: readonly string[]): Record<string, OpenApiObject> {
  const op = operations(idempotentMethods);
  return {
    '/api/v1/admin/mail': {
      get: op('GET', {
        id: 'listCapturedMail',
        tag: 'Auth admin',
        summary: 'Mails captured instead of sent (no SMTP server configured)',
        description:
          'Holds sign-in secrets (reset and verification tokens): admins only. 404 when mail goes to SMTP.',
        security: security('admin'),
        admin: true,
        parameters: [
          {
            name: 'to',
            in: 'query',
            required: false,
            description: 'Only mails to this address (compared lower-case).',
            schema: { type: 'string', maxLength: 254 },
          },
        ],
        codes: ['HTTP_ERR_VALIDATION', 'HTTP_ERR_NOT_FOUND'],
        responses: { 200: json('The captured mails.', 'CapturedMails', noStore()) },
      }),
    },
    '/.well-known/jwks.json': {
      get: op('GET', {
        id: 'getJwks',
        tag: 'JWKS',
        summary: 'The public keys that verify access tokens (RFC 7517)',
        security: [],
        responses: {
          200: json('The key set.', 'JsonWebKeySet', {
            'Cache-Control': header('Cache-Control', true, {
              description: 'Cacheable for five minutes.',
              schema: { const: 'public, max-age=300' },
            }),
          }),
        },
      }),
    },
  };
}
