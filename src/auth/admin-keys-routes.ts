import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GroundworkError } from '../core/errors.js';
import type { ApiKeys } from './api-keys.js';
import { scopesProblem } from './scopes.js';

const createSchema = z.strictObject({
  name: z.string().min(1).max(100),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** Narrows the key to `collection:operation` scopes; without, it may do anything an admin may. */
  scopes: z
    .array(z.string())
    .superRefine((scopes, ctx) => {
      const problem = scopesProblem(scopes);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

/**
 * `/api/v1/admin/keys`: admins create (key shown once, optionally scoped), list and revoke admin
 * API keys. A scoped admin key cannot use these routes (admin routes need an unscoped admin).
 */
export function registerAdminKeyRoutes(app: FastifyInstance, deps: { apiKeys: ApiKeys }) {
  const admin = { config: { access: 'admin' as const } };
  app.get('/api/v1/admin/keys', admin, async () => ({ items: await deps.apiKeys.list() }));
  // The answer holds the new key: never stored for Idempotency-Key replays.
  app.post(
    '/api/v1/admin/keys',
    { config: { access: 'admin' as const, idempotency: false as const } },
    async (request, reply) => {
      const parsed = createSchema.safeParse(request.body);
      if (!parsed.success)
        throw new GroundworkError('HTTP_ERR_VALIDATION', {
          detail:
            'Expected {"name": "...", "expiresAt"?: RFC 3339 date-time, "scopes"?: ["collection:operation", ...]}.',
          extensions: {
            errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
          },
        });
      const { key, record } = await deps.apiKeys.create({
        name: parsed.data.name,
        role: 'admin',
        ...(parsed.data.scopes ? { scopes: parsed.data.scopes } : {}),
        ...(parsed.data.expiresAt ? { expiresAt: new Date(parsed.data.expiresAt).toISOString() } : {}),
      });
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...record, key });
    },
  );
  app.delete<{ Params: { id: string } }>('/api/v1/admin/keys/:id', admin, async (request, reply) => {
    if (!(await deps.apiKeys.revoke(request.params.id)))
      throw new GroundworkError('HTTP_ERR_NOT_FOUND', { detail: 'No active API key with this id.' });
    return reply.code(204).send();
  });
}
