import type { IncomingHttpHeaders } from 'node:http';
import { GroundworkError } from '../core/errors.js';
import { ANONYMOUS, type Principal } from '../gateway/principal.js';
import type { ApiKeyRecord, ApiKeys } from './api-keys.js';
import { readSessionCookie } from './sessions/session-cookie.js';
import { csrfTokenMatches, type Sessions } from './sessions/sessions.js';
import type { DirectoryUser, UserDirectory } from './users/user-directory.js';

/** Longest Authorization header value looked at; anything longer is refused without a lookup. */
const MAX_AUTHORIZATION_LENGTH = 4096;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export type AuthenticationResult =
  | { readonly principal: Principal; readonly error?: undefined }
  | { readonly principal: Principal; readonly error: GroundworkError };

/** What the authenticator reads of a request. */
export interface AuthRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** Served over TLS (directly or behind a trusted proxy): only the `__Host-` cookie counts. */
  readonly secure: boolean;
}

/** The claims of a verified access token that the authenticator uses. */
export interface AccessTokenClaims {
  readonly sub: string;
  readonly col: string;
  readonly sid: string;
}

export interface AccessTokenVerifier {
  /** The claims of a valid token; throws `AUTH_ERR_INVALID_TOKEN` otherwise. */
  verify(token: string): Promise<AccessTokenClaims>;
}

/** The user-facing half of auth; absent until the auth block is wired (admin keys work alone). */
export interface UserAuthentication {
  readonly users: UserDirectory;
  readonly sessions: Sessions;
  readonly accessTokens: AccessTokenVerifier;
  /** Origins besides the server's own whose cookie-authenticated writes are accepted (CSRF). */
  readonly trustedOrigins: ReadonlySet<string>;
}

/**
 * Turns a request's credentials into a Principal:
 * - `Authorization: Bearer gwk_…` — an API key (admin, or a user's own, optionally scoped);
 * - `Authorization: Bearer <JWT>` — a user's access token (src/auth/tokens);
 * - otherwise the session cookie, when present and live — and for a state-changing request it
 *   must also pass the CSRF check (`Sec-Fetch-Site`, `Origin`, or `X-CSRF-Token`).
 * No credentials → anonymous; an expired or unknown session cookie → anonymous as well (the
 * browser simply is not signed in any more). Bad bearer credentials are an error the gateway raises
 * after rate limiting, so guessing is throttled like any other request. The response never says
 * whether a key or token was unknown, revoked, expired or its user disabled.
 */
export class Authenticator {
  readonly #apiKeys: ApiKeys;
  #users: UserAuthentication | undefined;

  constructor(apiKeys: ApiKeys, users?: UserAuthentication) {
    this.#apiKeys = apiKeys;
    this.#users = users;
  }

  /** Connects user authentication (the auth block is built after the gateway). */
  setUserAuthentication(users: UserAuthentication): void {
    this.#users = users;
  }

  async authenticate(request: AuthRequest): Promise<AuthenticationResult> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) return this.#bearer(authorization);
    const users = this.#users;
    if (!users) return { principal: ANONYMOUS };
    const secret = readSessionCookie(request.headers.cookie, request.secure);
    if (secret === undefined) return { principal: ANONYMOUS };
    const session = await users.sessions.resolve(secret);
    if (!session) return { principal: ANONYMOUS };
    const user = await users.users.get(session.collection, session.userId);
    if (!user || user.disabled) return { principal: ANONYMOUS };
    const principal = userPrincipal(session.collection, user, { via: 'session', sessionId: session.id });
    if (
      UNSAFE_METHODS.has(request.method) &&
      !sameSiteRequest(request, session.csrfToken, users.trustedOrigins)
    ) {
      return {
        principal: ANONYMOUS,
        error: new GroundworkError('AUTH_ERR_CSRF', {
          detail:
            'A request authenticated by the session cookie must come from this site (Origin / Sec-Fetch-Site) or carry X-CSRF-Token.',
        }),
      };
    }
    return { principal };
  }

  async #bearer(authorization: string | string[]): Promise<AuthenticationResult> {
    const value = Array.isArray(authorization) ? undefined : authorization;
    const match =
      value !== undefined && value.length <= MAX_AUTHORIZATION_LENGTH
        ? /^Bearer +([!-~]+) *$/i.exec(value)
        : null;
    const token = match?.[1];
    let principal: Principal | undefined;
    if (token?.startsWith('gwk_')) {
      const key = await this.#apiKeys.verify(token);
      if (key) principal = await this.#keyPrincipal(key);
    } else if (token !== undefined && this.#users && token.split('.').length === 3) {
      principal = await this.#tokenPrincipal(this.#users, token);
    }
    if (principal) return { principal };
    return {
      principal: ANONYMOUS,
      error: new GroundworkError('AUTH_ERR_INVALID_CREDENTIALS', {
        detail: 'The Authorization header does not carry a valid API key or access token.',
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      }),
    };
  }

  async #keyPrincipal(key: ApiKeyRecord): Promise<Principal | undefined> {
    const scopes = key.scopes ?? undefined;
    if (key.role === 'admin')
      return { kind: 'admin', id: `key:${key.id}`, keyId: key.id, ...(scopes ? { scopes } : {}) };
    if (!key.owner || !this.#users) return undefined;
    const user = await this.#users.users.get(key.owner.collection, key.owner.id);
    if (!user || user.disabled) return undefined;
    return userPrincipal(key.owner.collection, user, { via: 'key', keyId: key.id, scopes });
  }

  async #tokenPrincipal(users: UserAuthentication, token: string): Promise<Principal | undefined> {
    let claims: AccessTokenClaims;
    try {
      claims = await users.accessTokens.verify(token);
    } catch (error) {
      if (error instanceof GroundworkError) return undefined;
      throw error;
    }
    const user = await users.users.get(claims.col, claims.sub);
    if (!user || user.disabled) return undefined;
    return userPrincipal(claims.col, user, { via: 'token', sessionId: claims.sid });
  }
}

function userPrincipal(
  collection: string,
  user: DirectoryUser,
  how: {
    via: 'session' | 'token' | 'key';
    sessionId?: string;
    keyId?: string;
    scopes?: readonly string[] | undefined;
  },
): Principal {
  return {
    kind: 'user',
    id: user.record.id,
    collection,
    via: how.via,
    fields: user.record,
    ...(how.sessionId !== undefined ? { sessionId: how.sessionId } : {}),
    ...(how.keyId !== undefined ? { keyId: how.keyId } : {}),
    ...(how.scopes !== undefined ? { scopes: how.scopes } : {}),
  };
}

/**
 * The CSRF check for cookie-authenticated writes (OWASP: "verifying origin with standard headers"
 * plus a synchronizer token): a matching `X-CSRF-Token`; or the browser's own `Sec-Fetch-Site:
 * same-origin` (or `none`, a user-initiated navigation); or an `Origin` equal to this server's
 * origin or a trusted one. A request with none of these is refused.
 */
function sameSiteRequest(request: AuthRequest, csrfToken: string, trusted: ReadonlySet<string>): boolean {
  const presented = request.headers['x-csrf-token'];
  if (typeof presented === 'string' && csrfTokenMatches(presented, csrfToken)) return true;
  const site = request.headers['sec-fetch-site'];
  if (site === 'same-origin' || site === 'none') return true;
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || origin === 'null') return false;
  const host = request.headers.host;
  if (typeof host === 'string' && origin === `${request.secure ? 'https' : 'http'}://${host}`) return true;
  return trusted.has(origin);
}

/** The error for a caller that may not use an admin-only route or operation. */
export function adminRequired(principal: Principal): GroundworkError {
  return principal.kind === 'anonymous'
    ? new GroundworkError('AUTH_ERR_UNAUTHENTICATED', {
        detail: 'This needs an admin: send Authorization: Bearer <admin API key>.',
        headers: { 'www-authenticate': 'Bearer' },
      })
    : new GroundworkError('AUTH_ERR_FORBIDDEN', { detail: 'Only admins may do this.' });
}
