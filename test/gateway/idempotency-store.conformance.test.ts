import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnyDb, Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrations/runner.js';
import { systemMigrations } from '../../src/db/migrations/system.js';
import type { BeginInput } from '../../src/gateway/idempotency/idempotency-store.js';
import {
  IDEMPOTENCY_TABLE,
  SqlIdempotencyStore,
} from '../../src/gateway/idempotency/sql-idempotency-store.js';
import { sharedPostgres } from '../harness/shared-engines.js';

const postgres = sharedPostgres();
const tmp = mkdtempSync(join(tmpdir(), 'gw-idem-'));
const targets = [
  { name: 'sqlite', available: true, url: async () => `sqlite://${join(tmp, 'idem.db')}` },
  { name: 'postgres', available: postgres.available, url: () => postgres.createDatabase('idem') },
];

for (const target of targets) {
  describe.skipIf(!target.available)(`idempotency store conformance: ${target.name}`, () => {
    let db: Database;
    let store: SqlIdempotencyStore;
    let n = 0;
    const input = (over: Partial<BeginInput> = {}): BeginInput => ({
      scope: 'user:1',
      key: `k${n}`,
      fingerprint: 'fp-a',
      nowMs: 1_000_000,
      leaseMs: 1_000,
      ttlMs: 60_000,
      ...over,
    });
    const response = {
      status: 201,
      headers: { 'content-type': 'application/json', location: '/x/1' },
      body: Buffer.from('{"id":1}'),
    };

    beforeAll(async () => {
      db = new Database({ url: await target.url(), poolMax: 20 });
      await db.start();
      await migrate(db, systemMigrations);
      store = new SqlIdempotencyStore(db);
    });
    afterAll(() => db?.close());

    it('the first begin acquires; a repeat is in progress; another fingerprint is a mismatch', async () => {
      n++;
      expect(await store.begin(input())).toEqual({ kind: 'acquired' });
      expect(await store.begin(input({ nowMs: 1_000_100 }))).toEqual({ kind: 'in-progress' });
      expect(await store.begin(input({ fingerprint: 'fp-b' }))).toEqual({ kind: 'mismatch' });
      // Keys are scoped to the caller: another scope gets its own key.
      expect(await store.begin(input({ scope: 'user:2' }))).toEqual({ kind: 'acquired' });
    });

    it('after complete, begin returns the stored response byte for byte', async () => {
      n++;
      await store.begin(input());
      const binary = { ...response, body: Buffer.from([0, 255, 1, 254, 10, 13]) };
      expect(await store.complete('user:1', `k${n}`, binary)).toBe(true);
      const again = await store.begin(input({ nowMs: 1_000_500 }));
      expect(again.kind).toBe('completed');
      if (again.kind === 'completed') {
        expect(again.response.status).toBe(201);
        expect(again.response.headers).toEqual(binary.headers);
        expect(again.response.body.equals(binary.body)).toBe(true);
      }
      expect(await store.complete('user:1', `k${n}`, response)).toBe(false); // completes once
    });

    it('of 100 concurrent begins for one key, exactly one acquires', async () => {
      n++;
      const outcomes = await Promise.all(Array.from({ length: 100 }, () => store.begin(input())));
      expect(outcomes.filter((o) => o.kind === 'acquired')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'in-progress')).toHaveLength(99);
    });

    it('a completion inside a rolled-back transaction leaves the key in progress', async () => {
      n++;
      await store.begin(input());
      await expect(
        db.transaction(async (trx) => {
          await store.complete('user:1', `k${n}`, response, trx as unknown as Kysely<AnyDb>);
          throw new Error('effect failed');
        }),
      ).rejects.toThrow('effect failed');
      expect(await store.begin(input({ nowMs: 1_000_010 }))).toEqual({ kind: 'in-progress' });
    });

    it('an expired lease can be taken over by exactly one retry', async () => {
      n++;
      await store.begin(input());
      const later = 1_000_000 + 1_001;
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () => store.begin(input({ nowMs: later }))),
      );
      expect(outcomes.filter((o) => o.kind === 'acquired')).toHaveLength(1);
    });

    it('release lets the key be acquired again; expiry forgets a completed key', async () => {
      n++;
      await store.begin(input());
      await store.release('user:1', `k${n}`);
      expect(await store.begin(input())).toEqual({ kind: 'acquired' });
      await store.complete('user:1', `k${n}`, response);
      expect((await store.begin(input({ nowMs: 1_059_999 }))).kind).toBe('completed');
      expect(await store.begin(input({ nowMs: 1_060_000, fingerprint: 'fp-new' }))).toEqual({
        kind: 'acquired',
      });
    });

    it('sweep deletes expired keys only', async () => {
      await db.kysely.deleteFrom(IDEMPOTENCY_TABLE).execute();
      await store.begin(input({ key: 'old', nowMs: 0, ttlMs: 10 }));
      await store.begin(input({ key: 'fresh', nowMs: 0, ttlMs: 10_000 }));
      expect(await store.sweep(5_000, 100)).toBe(1);
      const left = await db.kysely.selectFrom(IDEMPOTENCY_TABLE).select('key').execute();
      expect(left.map((r) => r.key)).toEqual(['fresh']);
    });
  });
}
