import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GroundworkError } from '../../core/errors.js';
import type { Principal } from '../../gateway/principal.js';
import { clearSessionCookie, readSessionCookie, setSessionCookie } from '../sessions/session-cookie.js';
import type { Sessions } from '../sessions/sessions.js';
import type { RefreshTokens } from '../tokens/refresh-tokens.js';
import type { UserAccounts } from '../user-accounts.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../users/credentials.js';
import { validated } from './validated.js';

/**
 * `/api/v1/collections/{name}/auth/*`: sign-up, sign-in (session cookie or tokens), refresh,
 * sign-out, me, password change and reset, email verification. See docs/protocols/auth.md.
 */
const email = z.string().trim().min(3).max(254);
const password = z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH);
export const signInSchema = z.strictObject({
  email,
  password: z.string().max(MAX_PASSWORD_LENGTH),
  session: z.enum(['token', 'cookie']).default('token'),
});
export const refreshSchema = z.strictObject({ refresh_token: z.string().max(200) });
export const signOutSchema = z.strictObject({ refresh_token: z.string().max(200).optional() }).optional();
export const passwordChangeSchema = z.strictObject({
  currentPassword: z.string().max(MAX_PASSWORD_LENGTH),
  password,
});
export const emailOnlySchema = z.strictObject({ email });
export const resetConfirmSchema = z.strictObject({ token: z.string().max(200), password });
export const tokenOnlySchema = z.strictObject({ token: z.string().max(200) });

type Params = { Params: { collection: string } };

export function registerUserAuthRoutes(
  app: FastifyInstance,
  deps: { accounts: UserAccounts; sessions: Sessions; refreshTokens: RefreshTokens },
) {
  const { accounts, sessions } = deps;
  const base = '/api/v1/collections/:collection/auth';
  const open = { config: { access: 'public' as const } };
  const user = { config: { access: 'user' as const } };
  // Answers holding tokens are never stored for Idempotency-Key replays (see FastifyContextConfig).
  const openNoReplay = { config: { access: 'public' as const, idempotency: false as const } };

  app.post<Params>(`${base}/sign-up`, open, async (request, reply) => {
    const def = accounts.collection(request.params.collection);
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new GroundworkError('HTTP_ERR_VALIDATION', {
        detail: 'Expected a JSON object with email and password.',
      });
    const { email: rawEmail, password: rawPassword, ...fields } = body as Record<string, unknown>;
    const parsed = validated(
      z.strictObject({ email, password }),
      { email: rawEmail, password: rawPassword },
      '{"email": "...", "password": "..." (at least 8 characters), ...other fields of the collection}',
    );
    if ('verified' in fields)
      throw new GroundworkError('DATA_ERR_AUTH_FIELD', {
        detail: '"verified" is set by email verification.',
      });
    await accounts.signUp(def, { email: parsed.email, password: parsed.password, fields }, request.principal);
    return reply.code(202).header('cache-control', 'no-store').send({
      message: 'If this address can be used, a mail is on its way to it. Verify it, then sign in.',
    });
  });

  app.post<Params>(`${base}/sign-in`, openNoReplay, async (request, reply) => {
    const def = accounts.collection(request.params.collection);
    const body = validated(
      signInSchema,
      request.body,
      '{"email", "password", "session"?: "token" | "cookie"}',
    );
    const found = await accounts.checkPassword(def, body.email, body.password, request.clientIp);
    reply.header('cache-control', 'no-store');
    if (body.session === 'token') return { ...(await accounts.issueTokens(def, found)), user: found };
    const secure = request.protocol === 'https';
    const started = await sessions.start({
      collection: def.name,
      userId: found.id,
      ip: request.clientIp,
      userAgent: request.headers['user-agent'],
      previousSecret: readSessionCookie(request.headers.cookie, secure),
    });
    reply.header(
      'set-cookie',
      setSessionCookie(started.secret, { secure, maxAgeS: sessions.absoluteTimeoutMs / 1000 }),
    );
    return { user: found, csrfToken: started.session.csrfToken };
  });

  app.post<Params>(`${base}/refresh`, openNoReplay, async (request, reply) => {
    const def = accounts.collection(request.params.collection);
    const body = validated(refreshSchema, request.body, '{"refresh_token": "gwr_..."}');
    const pair = await accounts.refresh(body.refresh_token, def.name);
    return reply.header('cache-control', 'no-store').send(pair);
  });

  app.post<Params>(`${base}/sign-out`, open, async (request, reply) => {
    accounts.collection(request.params.collection);
    const body = validated(signOutSchema, request.body ?? undefined, '{"refresh_token"?: "gwr_..."}');
    const secure = request.protocol === 'https';
    const secret = readSessionCookie(request.headers.cookie, secure);
    if (secret !== undefined) {
      await sessions.end(secret);
      reply.header('set-cookie', clearSessionCookie(secure));
    }
    const principal = request.principal;
    if (principal.kind === 'user' && principal.via === 'token' && principal.sessionId)
      await deps.refreshTokens.revokeFamily(principal.sessionId);
    if (body?.refresh_token !== undefined) await deps.refreshTokens.revokePresented(body.refresh_token);
    return reply.code(204).send();
  });

  app.get<Params>(`${base}/me`, user, async (request, reply) => {
    const principal = ownUser(request, accounts);
    return reply.header('cache-control', 'no-store').send({
      user: principal.fields,
      via: principal.via,
      ...(principal.scopes ? { scopes: principal.scopes } : {}),
    });
  });

  app.post<Params>(`${base}/password`, user, async (request, reply) => {
    const principal = accountOwner(request, accounts);
    const body = validated(passwordChangeSchema, request.body, '{"currentPassword", "password"}');
    await accounts.changePassword(principal, body.currentPassword, body.password);
    return reply.code(204).send();
  });

  app.post<Params>(`${base}/password-reset/request`, open, async (request, reply) => {
    const def = accounts.collection(request.params.collection);
    const body = validated(emailOnlySchema, request.body, '{"email": "..."}');
    // Answer at once, found or not: the work (a lookup, maybe a mail) must not show in the time.
    void accounts
      .requestPasswordReset(def, body.email)
      .catch((error: unknown) => request.log.warn({ err: error }, 'password reset request failed'));
    return reply.code(202).send({ message: 'If this address has an account, a reset mail is on its way.' });
  });

  app.post<Params>(`${base}/password-reset/confirm`, open, async (request, reply) => {
    const def = accounts.collection(request.params.collection);
    const body = validated(resetConfirmSchema, request.body, '{"token": "gwm_...", "password": "..."}');
    await accounts.confirmPasswordReset(def, body.token, body.password);
    return reply.code(204).send();
  });

  app.post<Params>(`${base}/verification/request`, open, async (request, reply) => {
    const def = accounts.collection(request.params.collection);
    const body = validated(emailOnlySchema, request.body, '{"email": "..."}');
    void accounts
      .requestVerification(def, body.email)
      .catch((error: unknown) => request.log.warn({ err: error }, 'verification request failed'));
    return reply
      .code(202)
      .send({ message: 'If this address has an unverified account, a mail is on its way.' });
  });

  app.post<Params>(`${base}/verification/confirm`, open, async (request, reply) => {
    const def = accounts.collection(request.params.collection);
    const body = validated(tokenOnlySchema, request.body, '{"token": "gwm_..."}');
    await accounts.confirmVerification(def, body.token);
    return reply.code(204).send();
  });
}

type UserPrincipal = Extract<Principal, { kind: 'user' }>;

/** The signed-in user of this collection (401/403 otherwise). */
export function ownUser(request: FastifyRequest<Params>, accounts: UserAccounts): UserPrincipal {
  const def = accounts.collection(request.params.collection);
  const principal = request.principal;
  if (principal.kind !== 'user' || principal.collection !== def.name)
    throw new GroundworkError('AUTH_ERR_FORBIDDEN', { detail: `Sign in as a user of "${def.name}".` });
  return principal;
}

/**
 * Like `ownUser`, for account management (password, sessions, keys): an API key cannot do it,
 * so a leaked, narrowly scoped key cannot mint wider keys or lock the owner out.
 */
export function accountOwner(request: FastifyRequest<Params>, accounts: UserAccounts): UserPrincipal {
  const principal = ownUser(request, accounts);
  if (principal.via === 'key')
    throw new GroundworkError('AUTH_ERR_FORBIDDEN', {
      detail: 'Manage the account with a session or an access token, not an API key.',
    });
  return principal;
}
