import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AnyDb, Database } from '../../db/database.js';

/**
 * Single-use, expiring tokens sent by mail: email verification and password reset. Only the
 * SHA-256 is stored; a token is consumed by a conditional update, so two concurrent uses cannot
 * both succeed. A new token of a purpose makes the user's older ones of that purpose void, and a
 * token names the email it was sent to (a changed email voids it).
 */
export type MailTokenPurpose = 'verify-email' | 'reset-password';

export interface MailTokenUse {
  readonly collection: string;
  readonly userId: string;
  readonly email: string;
}

const TABLE = '_gw_auth_mail_tokens';
const TOKEN_PATTERN = /^gwm_[A-Za-z0-9_-]{43}$/;

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class MailTokens {
  readonly #db: Kysely<AnyDb>;
  readonly #now: () => number;

  constructor(database: Database, options: { now?: () => number } = {}) {
    this.#db = database.kysely as Kysely<AnyDb>;
    this.#now = options.now ?? Date.now;
  }

  async issue(purpose: MailTokenPurpose, user: MailTokenUse, ttlMs: number): Promise<string> {
    const token = `gwm_${randomBytes(32).toString('base64url')}`;
    const now = this.#now();
    await this.#db
      .deleteFrom(TABLE)
      .where('collection', '=', user.collection)
      .where('user_id', '=', user.userId)
      .where('purpose', '=', purpose)
      .execute();
    await this.#db
      .insertInto(TABLE)
      .values({
        hash: hashOf(token),
        purpose,
        collection: user.collection,
        user_id: user.userId,
        email: user.email,
        created_at: now,
        expires_at: now + ttlMs,
        used_at: null,
      })
      .execute();
    return token;
  }

  /** Consumes a token: its user when it is well-formed, unused, unexpired and of this purpose. */
  async consume(
    purpose: MailTokenPurpose,
    token: unknown,
    db: Kysely<AnyDb> = this.#db,
  ): Promise<MailTokenUse | undefined> {
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return undefined;
    const hash = hashOf(token);
    const now = this.#now();
    const used = await db
      .updateTable(TABLE)
      .set({ used_at: now })
      .where('hash', '=', hash)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) !== 1) return undefined;
    const row = await db
      .selectFrom(TABLE)
      .select(['collection', 'user_id', 'email'])
      .where('hash', '=', hash)
      .executeTakeFirstOrThrow();
    return { collection: String(row.collection), userId: String(row.user_id), email: String(row.email) };
  }

  /** Deletes tokens that can no longer be used: expired or consumed; returns how many (housekeeping). */
  async deleteSpent(): Promise<number> {
    const now = this.#now();
    const result = await this.#db
      .deleteFrom(TABLE)
      .where((eb) => eb.or([eb('expires_at', '<=', now), eb('used_at', 'is not', null)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Voids every outstanding token of the user (password changed, user deleted). */
  async revokeAll(collection: string, userId: string, db: Kysely<AnyDb> = this.#db): Promise<void> {
    await db.deleteFrom(TABLE).where('collection', '=', collection).where('user_id', '=', userId).execute();
  }
}
