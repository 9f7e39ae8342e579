/**
 * Who is calling, as far as the gateway knows: set by the authentication step of the pipeline
 * (an admin API key today; users, sessions and JWTs slot in as `kind: 'user'`). Policies key on
 * it (rate limits per user or key, idempotency keys scoped to the caller) and collection access
 * rules read it as `@auth.*` (see `authValues`).
 */
export type Principal =
  | { readonly kind: 'anonymous' }
  /**
   * An admin, authenticated by an admin API key (`keyId`). A key with `scopes` may only do what
   * they allow (src/auth/scopes.ts); without, everything.
   */
  | {
      readonly kind: 'admin';
      readonly id: string;
      readonly keyId?: string;
      readonly scopes?: readonly string[];
    }
  /** A user record of an auth collection (issue: auth). `fields` are the user's own field values. */
  | {
      readonly kind: 'user';
      readonly id: string;
      readonly collection: string;
      readonly keyId?: string;
      /** How the user authenticated: a session cookie, an access token (JWT) or an API key. */
      readonly via?: 'session' | 'token' | 'key';
      /** The session (cookie) or token family (JWT) the request belongs to. */
      readonly sessionId?: string;
      readonly scopes?: readonly string[];
      readonly fields?: Readonly<Record<string, unknown>>;
    };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

declare module 'fastify' {
  interface FastifyRequest {
    /** The client's IP: the socket peer, or from X-Forwarded-For/Forwarded when the peer is trusted. */
    clientIp: string;
    principal: Principal;
  }
}

/** Scope for per-caller state (idempotency keys): the principal, or the client IP when anonymous. */
export function callerScope(principal: Principal, clientIp: string): string {
  return principal.kind === 'anonymous' ? `ip:${clientIp}` : `${principal.kind}:${principal.id}`;
}

/**
 * The `@auth.*` values an access rule sees: `id`, `collection` (the user's auth collection, or
 * `_admins`), `kind`, `scopes` (space-separated, null for an unscoped caller), and a user's own
 * fields. Anonymous callers have `id` null.
 */
export function authValues(principal: Principal): Readonly<Record<string, unknown>> {
  switch (principal.kind) {
    case 'anonymous':
      return { kind: 'anonymous', id: null, collection: null, scopes: null };
    case 'admin':
      return {
        kind: 'admin',
        id: principal.id,
        collection: '_admins',
        scopes: scopesValue(principal.scopes),
      };
    case 'user':
      return {
        ...principal.fields,
        kind: 'user',
        id: principal.id,
        collection: principal.collection,
        scopes: scopesValue(principal.scopes),
      };
  }
}

function scopesValue(scopes: readonly string[] | undefined): string | null {
  return scopes === undefined ? null : scopes.join(' ');
}
