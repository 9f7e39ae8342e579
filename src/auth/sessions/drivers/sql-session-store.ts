import type { Kysely } from 'kysely';
import type { AnyDb, Database } from '../../../db/database.js';
import type { SessionRecord, SessionStore } from '../session-store.js';

const TABLE = '_gw_auth_sessions';

/** Sessions in the platform's database (SQLite or PostgreSQL): `_gw_auth_sessions`. */
export class SqlSessionStore implements SessionStore {
  readonly #db: Kysely<AnyDb>;

  constructor(database: Database) {
    this.#db = database.kysely as Kysely<AnyDb>;
  }

  async create(s: SessionRecord): Promise<void> {
    await this.#db
      .insertInto(TABLE)
      .values({
        id: s.id,
        collection: s.collection,
        user_id: s.userId,
        csrf_token: s.csrfToken,
        ip: s.ip,
        user_agent: s.userAgent,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        expires_at: s.expiresAt,
      })
      .execute();
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = await this.#db.selectFrom(TABLE).selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async touch(id: string, nowMs: number): Promise<void> {
    await this.#db.updateTable(TABLE).set({ last_seen_at: nowMs }).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom(TABLE).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listForUser(collection: string, userId: string): Promise<SessionRecord[]> {
    const rows = await this.#db
      .selectFrom(TABLE)
      .selectAll()
      .where('collection', '=', collection)
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map(toRecord);
  }

  async deleteForUser(collection: string, userId: string, exceptId?: string): Promise<number> {
    let query = this.#db.deleteFrom(TABLE).where('collection', '=', collection).where('user_id', '=', userId);
    if (exceptId !== undefined) query = query.where('id', '!=', exceptId);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteEnded(nowMs: number, idleBeforeMs: number): Promise<number> {
    const result = await this.#db
      .deleteFrom(TABLE)
      .where((eb) => eb.or([eb('expires_at', '<=', nowMs), eb('last_seen_at', '<=', idleBeforeMs)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toRecord(row: Record<string, unknown>): SessionRecord {
  return {
    id: String(row.id),
    collection: String(row.collection),
    userId: String(row.user_id),
    csrfToken: String(row.csrf_token),
    ip: row.ip == null ? null : String(row.ip),
    userAgent: row.user_agent == null ? null : String(row.user_agent),
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    expiresAt: Number(row.expires_at),
  };
}
