import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GroundworkError } from '../../core/errors.js';
import type { DataApi } from '../../data/data-api.js';
import type { CapturedMailbox } from '../../mail/drivers/captured-mailbox.js';
import type { UserAccounts } from '../user-accounts.js';
import type { Credentials } from '../users/credentials.js';
import type { UserDirectory } from '../users/user-directory.js';
import { validated } from './validated.js';

type Params = { Params: { collection: string; id: string } };

/**
 * Admin-only user management: disable/enable a user (disabling ends their sessions, token
 * families and API keys at once), revoke everything of a user, and — when no SMTP server is
 * configured — read the captured mails (`/api/v1/admin/mail`), so sign-up and reset flows can be
 * completed locally and in tests. Listing and deleting users is the records API of the auth
 * collection (`GET/DELETE /api/v1/collections/{name}/records`), which admins may always use.
 */
export function registerAdminUserRoutes(
  app: FastifyInstance,
  deps: {
    data: DataApi;
    accounts: UserAccounts;
    credentials: Credentials;
    users: UserDirectory;
    mailbox: CapturedMailbox | undefined;
  },
) {
  const admin = { config: { access: 'admin' as const } };
  const base = '/api/v1/admin/collections/:collection/users/:id';

  app.post<Params>(`${base}/disable`, admin, async (request, reply) => {
    const def = deps.accounts.collection(request.params.collection);
    const found = await deps.users.load(def.name, request.params.id);
    if (!found) throw new GroundworkError('DATA_ERR_RECORD_NOT_FOUND', { detail: 'No such user.' });
    await deps.credentials.setDisabled(def.name, found.record.id, true);
    await deps.accounts.revokeEverything(def.name, found.record.id);
    return reply.code(204).send();
  });

  app.post<Params>(`${base}/enable`, admin, async (request, reply) => {
    const def = deps.accounts.collection(request.params.collection);
    const found = await deps.users.load(def.name, request.params.id);
    if (!found) throw new GroundworkError('DATA_ERR_RECORD_NOT_FOUND', { detail: 'No such user.' });
    await deps.credentials.setDisabled(def.name, found.record.id, false);
    deps.users.invalidate(def.name, found.record.id);
    return reply.code(204).send();
  });

  app.post<Params>(`${base}/revoke`, admin, async (request, reply) => {
    const def = deps.accounts.collection(request.params.collection);
    await deps.accounts.revokeEverything(def.name, request.params.id);
    return reply.code(204).send();
  });

  const mailQuery = z.strictObject({ to: z.string().max(254).optional() });
  app.get('/api/v1/admin/mail', admin, async (request, reply) => {
    if (!deps.mailbox)
      throw new GroundworkError('HTTP_ERR_NOT_FOUND', {
        detail: 'Mail goes to the configured SMTP server; nothing is captured.',
      });
    const query = validated(mailQuery, request.query, '?to=<email>');
    const items = deps.mailbox.list(query.to !== undefined ? { to: query.to.toLowerCase() } : {});
    return reply.header('cache-control', 'no-store').send({ items });
  });
}
