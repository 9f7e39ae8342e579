import type { Kysely } from 'kysely';
import type { AnyDb, Database } from '../../db/database.js';
import type { BeginInput, BeginOutcome, IdempotencyStore, StoredResponse } from './idempotency-store.js';

export const IDEMPOTENCY_TABLE = '_gw_idempotency_keys';

interface KeyRow {
  scope: string;
  key: string;
  fingerprint: string;
  state: string;
  status: number | null;
  headers: string | null;
  body: string | null;
  lease_until: number | string | null;
  expires_at: number | string;
}

/**
 * Idempotency keys in Groundwork's own database (SQLite or PostgreSQL), in the table created by
 * migration 0002. A claim is an INSERT … ON CONFLICT DO NOTHING: the unique (scope, key) index
 * makes exactly one of any number of concurrent requests the owner.
 */
export class SqlIdempotencyStore implements IdempotencyStore {
  readonly #db: Kysely<AnyDb>;

  constructor(database: Database) {
    this.#db = database.kysely as Kysely<AnyDb>;
  }

  async begin(input: BeginInput): Promise<BeginOutcome> {
    // Two passes at most: the second after deleting an expired key that blocked the insert.
    for (let attempt = 0; attempt < 2; attempt++) {
      const inserted = await this.#db
        .insertInto(IDEMPOTENCY_TABLE)
        .values({
          scope: input.scope,
          key: input.key,
          fingerprint: input.fingerprint,
          state: 'in-progress',
          lease_until: input.nowMs + input.leaseMs,
          expires_at: input.nowMs + input.ttlMs,
          created_at: input.nowMs,
        })
        .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return { kind: 'acquired' };

      const row = (await this.#db
        .selectFrom(IDEMPOTENCY_TABLE)
        .selectAll()
        .where('scope', '=', input.scope)
        .where('key', '=', input.key)
        .executeTakeFirst()) as KeyRow | undefined;
      if (!row) continue; // deleted between our insert and select: try again
      if (Number(row.expires_at) <= input.nowMs) {
        await this.#db
          .deleteFrom(IDEMPOTENCY_TABLE)
          .where('scope', '=', input.scope)
          .where('key', '=', input.key)
          .where('expires_at', '=', row.expires_at)
          .execute();
        continue;
      }
      if (row.fingerprint !== input.fingerprint) return { kind: 'mismatch' };
      if (row.state === 'completed') return { kind: 'completed', response: decode(row) };
      if (Number(row.lease_until) > input.nowMs) return { kind: 'in-progress' };
      // The holder's lease ran out (it crashed or hung). Its effect, if transactional, never
      // committed — completion commits with the effect — so taking over is safe. Compare-and-set
      // on the old lease so only one taker wins.
      const taken = await this.#db
        .updateTable(IDEMPOTENCY_TABLE)
        .set({ lease_until: input.nowMs + input.leaseMs })
        .where('scope', '=', input.scope)
        .where('key', '=', input.key)
        .where('state', '=', 'in-progress')
        .where('lease_until', '=', row.lease_until)
        .executeTakeFirst();
      return Number(taken.numUpdatedRows) === 1 ? { kind: 'acquired' } : { kind: 'in-progress' };
    }
    return { kind: 'in-progress' };
  }

  async complete(
    scope: string,
    key: string,
    response: StoredResponse,
    executor?: Kysely<AnyDb>,
  ): Promise<boolean> {
    const result = await (executor ?? this.#db)
      .updateTable(IDEMPOTENCY_TABLE)
      .set({
        state: 'completed',
        status: response.status,
        headers: JSON.stringify(response.headers),
        body: response.body.toString('base64'),
        lease_until: null,
      })
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('state', '=', 'in-progress')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async release(scope: string, key: string): Promise<void> {
    await this.#db
      .deleteFrom(IDEMPOTENCY_TABLE)
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('state', '=', 'in-progress')
      .execute();
  }

  async sweep(nowMs: number, limit: number): Promise<number> {
    const expired = this.#db
      .selectFrom(IDEMPOTENCY_TABLE)
      .select(['scope', 'key'])
      .where('expires_at', '<=', nowMs)
      .limit(limit);
    const rows = await expired.execute();
    let deleted = 0;
    for (const row of rows) {
      const result = await this.#db
        .deleteFrom(IDEMPOTENCY_TABLE)
        .where('scope', '=', row.scope as string)
        .where('key', '=', row.key as string)
        .where('expires_at', '<=', nowMs)
        .executeTakeFirst();
      deleted += Number(result.numDeletedRows);
    }
    return deleted;
  }
}

function decode(row: KeyRow): StoredResponse {
  return {
    status: Number(row.status),
    headers: row.headers ? (JSON.parse(row.headers) as Record<string, string>) : {},
    body: Buffer.from(row.body ?? '', 'base64'),
  };
}
