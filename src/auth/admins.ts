import type { Kysely } from 'kysely';
import type { Logger } from '../core/logger.js';
import { newRecordId } from '../data/records/record-id.js';
import type { AnyDb, Database } from '../db/database.js';
import { hashPassword } from './passwords.js';

/**
 * Creates the first admin from configuration (GROUNDWORK_ADMIN_EMAIL / _PASSWORD) when none
 * exists. Later starts leave admins alone, so changing the variables does not reset a password.
 * Returns true when it created one.
 */
export async function bootstrapAdmin(
  database: Database,
  admin: { email?: string | undefined; password?: string | undefined },
  logger: Logger,
): Promise<boolean> {
  if (!admin.email || !admin.password) return false;
  const passwordHash = await hashPassword(admin.password);
  return database.transaction(async (trx) => {
    const existing = await (trx as Kysely<AnyDb>)
      .selectFrom('_gw_admins')
      .select('id')
      .limit(1)
      .executeTakeFirst();
    if (existing) return false;
    await (trx as Kysely<AnyDb>)
      .insertInto('_gw_admins')
      .values({
        id: newRecordId(),
        email: admin.email,
        password_hash: passwordHash,
        created: new Date().toISOString(),
      })
      .execute();
    logger.info({ email: admin.email }, 'bootstrap admin created');
    return true;
  });
}
