import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { ExpiringMap } from '../core/expiring-map.js';
import { newRecordId } from '../data/records/record-id.js';
import type { AnyDb, Database } from '../db/database.js';

/**
 * API keys: `gwk_<prefix>_<secret>`. Only the SHA-256 of the whole key is stored (a key has 256
 * bits of entropy, so a slow hash adds nothing); the prefix is kept in clear so an operator can
 * tell keys apart in lists and logs. A key is shown once, when created. An `admin` key acts as an
 * admin; a `user` key acts as its owner (a user of an auth collection), rules included. Either may
 * be narrowed by `scopes` (src/auth/scopes.ts).
 */
export type ApiKeyRole = 'admin' | 'user';

export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  role: ApiKeyRole;
  created: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  /** The owning user of a `user` key. */
  owner: { collection: string; id: string } | null;
  scopes: string[] | null;
}

const KEY_PATTERN = /^gwk_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
/** last_used_at is written at most this often per key, so reads do not turn into writes. */
const TOUCH_INTERVAL_MS = 60_000;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * How long a verified key is trusted without asking the database again. A revocation takes effect
 * at once on the node that made it and within this bound on other nodes sharing the database.
 */
export const VERIFIED_KEY_TTL_MS = 5_000;
const VERIFIED_KEY_CACHE_SIZE = 10_000;

export class ApiKeys {
  readonly #db: Kysely<AnyDb>;
  readonly #touched = new Map<string, number>();
  /** SHA-256 of a valid key → its record, until a deadline (valid keys only: misses always ask). */
  readonly #verified = new ExpiringMap<string, ApiKeyRecord>(VERIFIED_KEY_CACHE_SIZE);

  constructor(database: Database) {
    this.#db = database.kysely as Kysely<AnyDb>;
  }

  /** Creates a key; returns it in clear (the only time it exists outside the caller). */
  async create(input: {
    name: string;
    role: ApiKeyRole;
    expiresAt?: string;
    owner?: { collection: string; id: string };
    scopes?: string[];
  }): Promise<{ key: string; record: ApiKeyRecord }> {
    const prefix = randomBytes(8).toString('hex').slice(0, 8);
    const key = `gwk_${prefix}_${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      id: newRecordId(),
      name: input.name,
      prefix,
      role: input.role,
      created: new Date().toISOString(),
      expiresAt: input.expiresAt ?? null,
      revokedAt: null,
      lastUsedAt: null,
      owner: input.owner ?? null,
      scopes: input.scopes ?? null,
    };
    await this.#db
      .insertInto('_gw_api_keys')
      .values({
        id: record.id,
        name: record.name,
        prefix,
        hash: hashApiKey(key),
        role: record.role,
        created: record.created,
        expires_at: record.expiresAt,
        owner_collection: record.owner?.collection ?? null,
        owner_id: record.owner?.id ?? null,
        scopes: record.scopes === null ? null : JSON.stringify(record.scopes),
      })
      .execute();
    return { key, record };
  }

  /** The key's record when it is well-formed, known, not revoked and not expired. */
  async verify(key: string, nowMs = Date.now()): Promise<ApiKeyRecord | undefined> {
    if (!KEY_PATTERN.test(key)) return undefined;
    const hash = hashApiKey(key);
    const cached = this.#verified.get(hash, nowMs);
    if (cached && !expired(cached, nowMs)) return cached;
    const row = await this.#db
      .selectFrom('_gw_api_keys')
      .selectAll()
      .where('hash', '=', hash)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null) return undefined;
    const record = toRecord(row);
    if (expired(record, nowMs)) return undefined;
    this.#verified.set(hash, record, nowMs + VERIFIED_KEY_TTL_MS);
    const last = this.#touched.get(record.id) ?? 0;
    if (nowMs - last >= TOUCH_INTERVAL_MS) {
      this.#touched.set(record.id, nowMs);
      await this.#db
        .updateTable('_gw_api_keys')
        .set({ last_used_at: new Date(nowMs).toISOString() })
        .where('id', '=', record.id)
        .execute();
    }
    return record;
  }

  /** Every key, or only the keys a user owns. */
  async list(owner?: { collection: string; id: string }): Promise<ApiKeyRecord[]> {
    let query = this.#db.selectFrom('_gw_api_keys').selectAll().orderBy('id');
    if (owner)
      query = query.where('owner_collection', '=', owner.collection).where('owner_id', '=', owner.id);
    return (await query.execute()).map(toRecord);
  }

  /** Revokes a key (only if `owner` owns it, when given); false when there was nothing to revoke. */
  async revoke(id: string, owner?: { collection: string; id: string }): Promise<boolean> {
    this.#verified.deleteWhere((record) => record.id === id);
    let query = this.#db
      .updateTable('_gw_api_keys')
      .set({ revoked_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null);
    if (owner)
      query = query.where('owner_collection', '=', owner.collection).where('owner_id', '=', owner.id);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Revokes every key a user owns (user disabled or deleted); `db` may be a transaction. */
  async revokeAllForUser(collection: string, userId: string, db: Kysely<AnyDb> = this.#db): Promise<number> {
    this.#verified.deleteWhere(
      (record) => record.owner?.collection === collection && record.owner.id === userId,
    );
    const result = await db
      .updateTable('_gw_api_keys')
      .set({ revoked_at: new Date().toISOString() })
      .where('owner_collection', '=', collection)
      .where('owner_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}

function expired(record: ApiKeyRecord, nowMs: number): boolean {
  return record.expiresAt !== null && Date.parse(record.expiresAt) <= nowMs;
}

function toRecord(row: Record<string, unknown>): ApiKeyRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    prefix: String(row.prefix),
    role: row.role as ApiKeyRole,
    created: String(row.created),
    expiresAt: row.expires_at == null ? null : String(row.expires_at),
    revokedAt: row.revoked_at == null ? null : String(row.revoked_at),
    lastUsedAt: row.last_used_at == null ? null : String(row.last_used_at),
    owner:
      row.owner_collection == null || row.owner_id == null
        ? null
        : { collection: String(row.owner_collection), id: String(row.owner_id) },
    scopes: row.scopes == null ? null : (JSON.parse(String(row.scopes)) as string[]),
  };
}
