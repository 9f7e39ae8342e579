import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GroundworkError } from '../../core/errors.js';
import type { ApiKeys } from '../api-keys.js';
import { scopesProblem } from '../scopes.js';
import type { Sessions } from '../sessions/sessions.js';
import type { UserAccounts } from '../user-accounts.js';
import { accountOwner } from './user-auth-routes.js';
import { validated } from './validated.js';

export const keySchema = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(z.string()).superRefine((scopes, ctx) => {
    const problem = scopesProblem(scopes);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

type Params = { Params: { collection: string; id?: string } };

/**
 * A signed-in user's own account: their cookie sessions (list, revoke one, revoke the others) and
 * their API keys (create — scoped, shown once —, list, revoke). Not reachable with an API key.
 */
export function registerAccountRoutes(
  app: FastifyInstance,
  deps: { accounts: UserAccounts; sessions: Sessions; apiKeys: ApiKeys },
) {
  const base = '/api/v1/collections/:collection/auth';
  const user = { config: { access: 'user' as const } };

  app.get<Params>(`${base}/sessions`, user, async (request, reply) => {
    const me = accountOwner(request, deps.accounts);
    const items = (await deps.sessions.list(me.collection, me.id)).map((s) => ({
      id: s.id,
      current: me.via === 'session' && me.sessionId === s.id,
      ip: s.ip,
      userAgent: s.userAgent,
      created: new Date(s.createdAt).toISOString(),
      lastSeen: new Date(s.lastSeenAt).toISOString(),
      expires: new Date(s.expiresAt).toISOString(),
    }));
    return reply.header('cache-control', 'no-store').send({ items });
  });

  app.delete<Params>(`${base}/sessions/:id`, user, async (request, reply) => {
    const me = accountOwner(request, deps.accounts);
    if (!(await deps.sessions.revoke(me.collection, me.id, String(request.params.id))))
      throw new GroundworkError('HTTP_ERR_NOT_FOUND', { detail: 'You have no session with this id.' });
    return reply.code(204).send();
  });

  app.get<Params>(`${base}/keys`, user, async (request, reply) => {
    const me = accountOwner(request, deps.accounts);
    const items = await deps.apiKeys.list({ collection: me.collection, id: me.id });
    return reply.header('cache-control', 'no-store').send({ items });
  });

  // The answer holds the new key: never stored for Idempotency-Key replays.
  app.post<Params>(
    `${base}/keys`,
    { config: { access: 'user' as const, idempotency: false as const } },
    async (request, reply) => {
      const me = accountOwner(request, deps.accounts);
      const body = validated(
        keySchema,
        request.body,
        '{"name", "scopes": ["collection:operation", ...], "expiresAt"?}',
      );
      const { key, record } = await deps.apiKeys.create({
        name: body.name,
        role: 'user',
        owner: { collection: me.collection, id: me.id },
        scopes: body.scopes,
        ...(body.expiresAt ? { expiresAt: new Date(body.expiresAt).toISOString() } : {}),
      });
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...record, key });
    },
  );

  app.delete<Params>(`${base}/keys/:id`, user, async (request, reply) => {
    const me = accountOwner(request, deps.accounts);
    if (!(await deps.apiKeys.revoke(String(request.params.id), { collection: me.collection, id: me.id })))
      throw new GroundworkError('HTTP_ERR_NOT_FOUND', { detail: 'You have no active API key with this id.' });
    return reply.code(204).send();
  });
}
