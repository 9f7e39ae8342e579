import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { GroundworkError } from '../../core/errors.js';
import { ExpiringMap } from '../../core/expiring-map.js';
import { newRecordId } from '../../data/records/record-id.js';
import type { AnyDb, Database } from '../../db/database.js';
import { type SessionStatus, TokenRejection, type TokenRejectionReason } from './access-tokens.js';

/**
 * Rotating refresh tokens: `gwr_<43 base64url chars>` (256 random bits), stored as SHA-256 only
 * (like API keys: with 256 bits of entropy a slow hash adds nothing). Sign-in starts a *family*
 * (the session an access token's `sid` names); each `rotate` spends the presented token and
 * issues its successor in the same family, in one transaction.
 *
 * Reuse detection (OAuth 2.0 Security BCP §4.14.2): presenting a token already spent means two
 * parties hold it, so the whole family is revoked, the successor included. Two concurrent rotates
 * of one token are such a case: the spend is `UPDATE … WHERE used_at IS NULL` checked by row
 * count (PostgreSQL makes the loser wait for the winner's commit, then match no row; SQLite runs
 * one write transaction at a time), so exactly one wins, and the loser revokes the family.
 *
 * A family is revoked when ANY of its rows has `revoked_at`: a revocation that races a rotation
 * (PostgreSQL, read committed) may miss the successor row being inserted, but still marks its
 * siblings, and every check asks "any revoked row in the family?".
 *
 * A family also has an absolute lifetime (`familyLifetimeMs`); each token an idle lifetime
 * (`ttlMs`, capped by the family's). Every failure is AUTH_ERR_INVALID_REFRESH_TOKEN; the reason
 * (a `TokenRejection`) is the internal cause.
 */
export const REFRESH_TOKENS_TABLE = '_gw_auth_refresh_tokens';

const TOKEN_PATTERN = /^gwr_[A-Za-z0-9_-]{43}$/;
const MAX_FAMILY_ID_LENGTH = 64;
const STATUS_CACHE_SIZE = 10_000;

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Whether `value` looks like a refresh token (checked before any lookup). */
export function isRefreshTokenShape(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_PATTERN.test(value);
}

export function newRefreshToken(): string {
  return `gwr_${randomBytes(32).toString('base64url')}`;
}

export interface RefreshTokensOptions {
  /** Lifetime of one token (idle timeout of the session), in ms. Default 14 days. */
  ttlMs?: number;
  /** Absolute lifetime of a family from sign-in, in ms; rotation refuses after it. Default 30 days. */
  familyLifetimeMs?: number;
  /**
   * A token spent less than this many ms ago is refused WITHOUT revoking the family (a client
   * that sent the same refresh twice, e.g. two tabs). 0 = every reuse revokes. Default 0.
   */
  reuseGraceMs?: number;
  /**
   * How long `isFamilyActive` trusts its answer per node, in ms. A revocation takes effect at
   * once on the node that made it and within this bound on the others. 0 = always ask. Default 5 s.
   */
  statusCacheMs?: number;
  /** Epoch milliseconds. Default `Date.now`. */
  clock?: () => number;
}

export interface IssuedRefreshToken {
  /** The token in clear: shown once, to the client. */
  token: string;
  familyId: string;
  userId: string;
  collection: string;
  /** Epoch ms. */
  expiresAtMs: number;
  /** Epoch ms: the family's absolute end. */
  familyExpiresAtMs: number;
}

type RotateOutcome =
  | { kind: 'rotated'; issued: IssuedRefreshToken }
  | { kind: 'rejected'; reason: TokenRejectionReason; familyId?: string };

/**
 * @example
 *   const refresh = new RefreshTokens(database);
 *   const { token, familyId } = await refresh.issue({ id: user.id, collection: 'users' });
 *   const next = await refresh.rotate(token); // throws AUTH_ERR_INVALID_REFRESH_TOKEN
 */
export class RefreshTokens implements SessionStatus {
  readonly ttlMs: number;
  readonly familyLifetimeMs: number;
  readonly reuseGraceMs: number;
  readonly statusCacheMs: number;
  readonly #database: Database;
  readonly #db: Kysely<AnyDb>;
  readonly #clock: () => number;
  /** familyId → whether it was active, until a deadline. */
  readonly #status = new ExpiringMap<string, { active: boolean; familyExpiresAtMs: number }>(
    STATUS_CACHE_SIZE,
  );

  constructor(database: Database, options: RefreshTokensOptions = {}) {
    this.#database = database;
    this.#db = database.kysely as Kysely<AnyDb>;
    this.ttlMs = options.ttlMs ?? 14 * 86_400_000;
    this.familyLifetimeMs = options.familyLifetimeMs ?? 30 * 86_400_000;
    this.reuseGraceMs = options.reuseGraceMs ?? 0;
    this.statusCacheMs = options.statusCacheMs ?? 5_000;
    this.#clock = options.clock ?? Date.now;
    const checks: [name: string, value: number, min: number][] = [
      ['ttlMs', this.ttlMs, 1],
      ['familyLifetimeMs', this.familyLifetimeMs, 1],
      ['reuseGraceMs', this.reuseGraceMs, 0],
      ['statusCacheMs', this.statusCacheMs, 0],
    ];
    for (const [name, value, min] of checks) {
      if (!Number.isSafeInteger(value) || value < min) {
        throw new GroundworkError('AUTH_ERR_TOKEN_CONFIG', {
          detail: `Refresh tokens: ${name} must be an integer ≥ ${min}.`,
        });
      }
    }
  }

  /** Starts a family (a session) for the user with its first token. */
  async issue(user: { id: string; collection: string }): Promise<IssuedRefreshToken> {
    if (
      typeof user.id !== 'string' ||
      user.id === '' ||
      typeof user.collection !== 'string' ||
      !user.collection
    )
      throw new TypeError('refresh token: user id and collection are required');
    const nowMs = this.#clock();
    const familyExpiresAtMs = nowMs + this.familyLifetimeMs;
    return this.#insert(this.#db, {
      familyId: newRecordId(nowMs),
      userId: user.id,
      collection: user.collection,
      parentId: null,
      nowMs,
      familyExpiresAtMs,
    });
  }

  /**
   * Spends `token` and returns its successor. Refuses (AUTH_ERR_INVALID_REFRESH_TOKEN) a
   * malformed, unknown, expired or revoked token and a family past its lifetime; a token already
   * spent revokes its family first.
   */
  /**
   * `collection`: the auth collection the caller named (the route's); a token of another
   * collection is refused as unknown, and stays unspent.
   */
  async rotate(token: unknown, collection?: string): Promise<IssuedRefreshToken> {
    if (!isRefreshTokenShape(token)) throw invalid('malformed');
    const hash = hashRefreshToken(token);
    const nowMs = this.#clock();
    const outcome = await this.#database.transaction(async (trx): Promise<RotateOutcome> => {
      const row = await trx
        .selectFrom(REFRESH_TOKENS_TABLE)
        .selectAll()
        .where('hash', '=', hash)
        .executeTakeFirst();
      if (!row) return { kind: 'rejected', reason: 'unknown' };
      if (collection !== undefined && String(row.collection) !== collection)
        return { kind: 'rejected', reason: 'unknown' };
      const familyId = String(row.family_id);
      if (row.revoked_at != null || (await familyRevoked(trx, familyId)))
        return { kind: 'rejected', reason: 'revoked', familyId };
      if (Number(row.family_expires_at) <= nowMs)
        return { kind: 'rejected', reason: 'family-expired', familyId };
      if (row.used_at != null) {
        if (nowMs - Number(row.used_at) < this.reuseGraceMs)
          return { kind: 'rejected', reason: 'reused-within-grace', familyId };
        await revokeFamilyRows(trx, familyId, nowMs);
        return { kind: 'rejected', reason: 'reused', familyId };
      }
      if (Number(row.expires_at) <= nowMs) return { kind: 'rejected', reason: 'expired', familyId };
      const spent = await trx
        .updateTable(REFRESH_TOKENS_TABLE)
        .set({ used_at: nowMs })
        .where('id', '=', String(row.id))
        .where('used_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(spent.numUpdatedRows) !== 1) {
        // Changed since we read it: a concurrent rotate spent it (reuse) or a revocation landed.
        const now = await trx
          .selectFrom(REFRESH_TOKENS_TABLE)
          .select(['used_at', 'revoked_at'])
          .where('id', '=', String(row.id))
          .executeTakeFirst();
        if (now?.revoked_at != null) return { kind: 'rejected', reason: 'revoked', familyId };
        await revokeFamilyRows(trx, familyId, nowMs);
        return { kind: 'rejected', reason: 'reused', familyId };
      }
      // A revocation of a sibling that committed after our first look.
      if (await familyRevoked(trx, familyId)) return { kind: 'rejected', reason: 'revoked', familyId };
      const issued = await this.#insert(trx, {
        familyId,
        userId: String(row.user_id),
        collection: String(row.collection),
        parentId: String(row.id),
        nowMs,
        familyExpiresAtMs: Number(row.family_expires_at),
      });
      return { kind: 'rotated', issued };
    });
    if (outcome.kind === 'rotated') return outcome.issued;
    if (outcome.familyId && (outcome.reason === 'reused' || outcome.reason === 'revoked'))
      this.#status.delete(outcome.familyId);
    throw invalid(outcome.reason);
  }

  /** Revokes a session: its refresh tokens and (within `statusCacheMs` elsewhere) its access tokens. */
  async revokeFamily(familyId: string): Promise<boolean> {
    this.#status.delete(familyId);
    const result = await this.#db
      .updateTable(REFRESH_TOKENS_TABLE)
      .set({ revoked_at: this.#clock() })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    this.#status.delete(familyId);
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Revokes every session of a user (password change, disabled account, admin action), except
   * `exceptFamilyId` (the session that changed the password keeps going).
   */
  async revokeAllForUser(collection: string, userId: string, exceptFamilyId?: string): Promise<void> {
    let query = this.#db
      .updateTable(REFRESH_TOKENS_TABLE)
      .set({ revoked_at: this.#clock() })
      .where('collection', '=', collection)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (exceptFamilyId !== undefined) query = query.where('family_id', '!=', exceptFamilyId);
    await query.execute();
    // Entries do not record their user; this is rare enough to drop them all.
    this.#status.clear();
  }

  /** Revokes the family of a presented refresh token (sign-out); false when the token is unknown. */
  async revokePresented(token: unknown): Promise<boolean> {
    if (!isRefreshTokenShape(token)) return false;
    const row = await this.#db
      .selectFrom(REFRESH_TOKENS_TABLE)
      .select('family_id')
      .where('hash', '=', hashRefreshToken(token))
      .executeTakeFirst();
    return row ? this.revokeFamily(String(row.family_id)) : false;
  }

  /** True while the family exists, is not revoked and is within its absolute lifetime. */
  async isFamilyActive(familyId: string): Promise<boolean> {
    if (typeof familyId !== 'string' || familyId === '' || familyId.length > MAX_FAMILY_ID_LENGTH)
      return false;
    const nowMs = this.#clock();
    const cached = this.#status.get(familyId, nowMs);
    if (cached) return cached.active && cached.familyExpiresAtMs > nowMs;
    const row = await this.#db
      .selectFrom(REFRESH_TOKENS_TABLE)
      .select((eb) => [
        eb.fn.max('family_expires_at').as('family_expires_at'),
        eb.fn.count('revoked_at').as('revoked'),
      ])
      .where('family_id', '=', familyId)
      .executeTakeFirst();
    const familyExpiresAtMs = row?.family_expires_at == null ? 0 : Number(row.family_expires_at);
    const active = familyExpiresAtMs > 0 && Number(row?.revoked ?? 0) === 0;
    if (this.statusCacheMs > 0) {
      this.#status.set(familyId, { active, familyExpiresAtMs }, nowMs + this.statusCacheMs);
    }
    return active && familyExpiresAtMs > nowMs;
  }

  /** Deletes the rows of families past their absolute lifetime; returns how many. */
  async deleteExpired(): Promise<number> {
    const result = await this.#db
      .deleteFrom(REFRESH_TOKENS_TABLE)
      .where('family_expires_at', '<=', this.#clock())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async #insert(
    db: Kysely<AnyDb> | Transaction<AnyDb>,
    input: {
      familyId: string;
      userId: string;
      collection: string;
      parentId: string | null;
      nowMs: number;
      familyExpiresAtMs: number;
    },
  ): Promise<IssuedRefreshToken> {
    const token = newRefreshToken();
    const expiresAtMs = Math.min(input.nowMs + this.ttlMs, input.familyExpiresAtMs);
    await db
      .insertInto(REFRESH_TOKENS_TABLE)
      .values({
        id: newRecordId(input.nowMs),
        family_id: input.familyId,
        user_id: input.userId,
        collection: input.collection,
        hash: hashRefreshToken(token),
        parent_id: input.parentId,
        created_at: input.nowMs,
        expires_at: expiresAtMs,
        family_expires_at: input.familyExpiresAtMs,
        used_at: null,
        revoked_at: null,
      })
      .execute();
    return {
      token,
      familyId: input.familyId,
      userId: input.userId,
      collection: input.collection,
      expiresAtMs,
      familyExpiresAtMs: input.familyExpiresAtMs,
    };
  }
}

async function familyRevoked(trx: Transaction<AnyDb>, familyId: string): Promise<boolean> {
  const row = await trx
    .selectFrom(REFRESH_TOKENS_TABLE)
    .select('id')
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is not', null)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

async function revokeFamilyRows(trx: Transaction<AnyDb>, familyId: string, nowMs: number): Promise<void> {
  await trx
    .updateTable(REFRESH_TOKENS_TABLE)
    .set({ revoked_at: nowMs })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute();
}

function invalid(reason: TokenRejectionReason): GroundworkError {
  return new GroundworkError('AUTH_ERR_INVALID_REFRESH_TOKEN', {
    detail: 'The refresh token is invalid, expired or revoked: sign in again.',
    cause: new TokenRejection(reason),
  });
}
