import { type Kysely, sql } from 'kysely';
import { GroundworkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AnyDb, Database } from '../database.js';
import type { Migration } from './migration.js';

export const MIGRATIONS_TABLE = '_gw_migrations';
/** Advisory lock key for PostgreSQL: fixed so every node contends on the same lock. */
const PG_MIGRATION_LOCK = '7374616810041701';

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies pending migrations in one transaction, holding a lock for its whole length so that two
 * nodes starting at once never both migrate: PostgreSQL takes a transaction-scoped advisory lock;
 * SQLite takes the database write lock with BEGIN IMMEDIATE. The second node waits, then finds
 * nothing to do. A failing migration rolls back every migration of the run.
 */
export async function migrate(
  database: Database,
  migrations: readonly Migration[],
  logger?: Logger,
): Promise<MigrationResult> {
  const ordered = [...migrations].sort((a, b) => a.id.localeCompare(b.id));
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]!.id === ordered[i - 1]!.id) throw new Error(`duplicate migration id ${ordered[i]!.id}`);
  }
  return (database.kysely as Kysely<AnyDb>).connection().execute(async (conn) => {
    if (database.dialect === 'postgres') {
      await sql`begin`.execute(conn);
      await sql`select pg_advisory_xact_lock(${PG_MIGRATION_LOCK}::bigint)`.execute(conn);
    } else {
      await sql`begin immediate`.execute(conn);
    }
    try {
      await conn.schema
        .createTable(MIGRATIONS_TABLE)
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('applied_at', 'text', (c) => c.notNull())
        .execute();
      const rows = await conn.selectFrom(MIGRATIONS_TABLE).select('id').execute();
      const done = new Set(rows.map((r) => String(r.id)));
      const applied: string[] = [];
      for (const migration of ordered) {
        if (done.has(migration.id)) continue;
        try {
          await migration.up(conn, database.dialect);
        } catch (error) {
          throw new GroundworkError('DB_ERR_MIGRATION_FAILED', {
            detail: `Migration ${migration.id} failed`,
            cause: error,
          });
        }
        await conn
          .insertInto(MIGRATIONS_TABLE)
          .values({ id: migration.id, applied_at: new Date().toISOString() })
          .execute();
        applied.push(migration.id);
        logger?.info({ migration: migration.id }, 'migration applied');
      }
      await sql`commit`.execute(conn);
      return { applied, alreadyApplied: [...done].sort() };
    } catch (error) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw error;
    }
  });
}
