import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AnyDb, Database } from '../../db/database.js';
import { hashPassword, SCRYPT_PARAMS, verifyPassword } from '../passwords.js';

/**
 * Passwords and account state of auth-collection users, in `_gw_auth_credentials` (never in the
 * collection's own table, so no records route can read a hash). Times are epoch ms.
 */
export interface CredentialRow {
  readonly passwordHash: string | null;
  readonly disabledAt: number | null;
  readonly passwordChangedAt: number;
}

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;

/**
 * A hash of a random password, computed once: sign-in verifies against it when the email is
 * unknown, so an unknown email costs the same scrypt as a known one (no timing oracle).
 */
let decoyHash: Promise<string> | undefined;
function decoy(): Promise<string> {
  decoyHash ??= hashPassword(randomBytes(24).toString('base64url'), SCRYPT_PARAMS);
  return decoyHash;
}

export class Credentials {
  readonly #db: Kysely<AnyDb>;

  constructor(database: Database) {
    this.#db = database.kysely as Kysely<AnyDb>;
  }

  async get(
    collection: string,
    userId: string,
    db: Kysely<AnyDb> = this.#db,
  ): Promise<CredentialRow | undefined> {
    const row = await db
      .selectFrom('_gw_auth_credentials')
      .select(['password_hash', 'disabled_at', 'password_changed_at'])
      .where('collection', '=', collection)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      passwordHash: row.password_hash == null ? null : String(row.password_hash),
      disabledAt: row.disabled_at == null ? null : Number(row.disabled_at),
      passwordChangedAt: Number(row.password_changed_at),
    };
  }

  /** Sets (or first creates) the user's password; `db` lets the caller include it in its transaction. */
  async setPassword(
    collection: string,
    userId: string,
    password: string | null,
    db: Kysely<AnyDb> = this.#db,
    nowMs = Date.now(),
  ): Promise<void> {
    const passwordHash = password === null ? null : await hashPassword(password);
    const updated = await db
      .updateTable('_gw_auth_credentials')
      .set({ password_hash: passwordHash, password_changed_at: nowMs })
      .where('collection', '=', collection)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return;
    await db
      .insertInto('_gw_auth_credentials')
      .values({
        collection,
        user_id: userId,
        password_hash: passwordHash,
        disabled_at: null,
        password_changed_at: nowMs,
      })
      .execute();
  }

  /**
   * True when `password` matches. Runs scrypt whether or not the user or a password exists, so
   * callers answer in similar time either way.
   */
  async check(row: CredentialRow | undefined, password: string): Promise<boolean> {
    const stored = row?.passwordHash ?? (await decoy());
    const ok = await verifyPassword(password, stored);
    return ok && row?.passwordHash != null;
  }

  async setDisabled(
    collection: string,
    userId: string,
    disabled: boolean,
    nowMs = Date.now(),
  ): Promise<boolean> {
    const result = await this.#db
      .updateTable('_gw_auth_credentials')
      .set({ disabled_at: disabled ? nowMs : null })
      .where('collection', '=', collection)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) > 0) return true;
    // A user created by an admin through the records API has no credentials row yet.
    await this.#db
      .insertInto('_gw_auth_credentials')
      .values({
        collection,
        user_id: userId,
        password_hash: null,
        disabled_at: disabled ? nowMs : null,
        password_changed_at: nowMs,
      })
      .execute();
    return true;
  }
}

/** The password rule every route applies; undefined when acceptable. */
export function passwordProblem(password: unknown): string | undefined {
  if (typeof password !== 'string') return 'must be a string';
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}
