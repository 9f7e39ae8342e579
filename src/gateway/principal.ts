/**
 * Who is calling, as far as the gateway knows. Authentication (admin API keys, users, sessions,
 * JWT) sets it; until then every request is anonymous. Policies key on it (rate limits per user,
 * idempotency keys scoped to the caller).
 */
export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'user' | 'admin' | 'api-key'; readonly id: string };

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
