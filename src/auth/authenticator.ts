import { GroundworkError } from '../core/errors.js';
import { ANONYMOUS, type Principal } from '../gateway/principal.js';
import type { ApiKeys } from './api-keys.js';

/** Longest Authorization header value looked at; anything longer is refused without a lookup. */
const MAX_AUTHORIZATION_LENGTH = 2048;

export type AuthenticationResult =
  | { readonly principal: Principal; readonly error?: undefined }
  | { readonly principal: Principal; readonly error: GroundworkError };

/**
 * Turns a request's credentials into a Principal. Today: `Authorization: Bearer <admin API key>`.
 * No credentials → anonymous. Bad credentials are reported as an error the gateway raises after
 * rate limiting, so guessing keys is throttled like any other request. The response never says
 * whether a key was unknown, revoked or expired.
 */
export class Authenticator {
  readonly #apiKeys: ApiKeys;

  constructor(apiKeys: ApiKeys) {
    this.#apiKeys = apiKeys;
  }

  async authenticate(authorization: string | string[] | undefined): Promise<AuthenticationResult> {
    if (authorization === undefined) return { principal: ANONYMOUS };
    const value = Array.isArray(authorization) ? undefined : authorization;
    const match =
      value !== undefined && value.length <= MAX_AUTHORIZATION_LENGTH
        ? /^Bearer +([!-~]+) *$/i.exec(value)
        : null;
    const token = match?.[1];
    const key = token === undefined ? undefined : await this.#apiKeys.verify(token);
    if (!key) {
      return {
        principal: ANONYMOUS,
        error: new GroundworkError('AUTH_ERR_INVALID_CREDENTIALS', {
          detail: 'The Authorization header does not carry a valid API key.',
          headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
        }),
      };
    }
    return { principal: { kind: 'admin', id: `key:${key.id}`, keyId: key.id } };
  }
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
