import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroundworkError } from '../../src/core/errors.js';
import { type AnyDb, Database } from '../../src/db/database.js';
import { MIGRATIONS_TABLE, migrate } from '../../src/db/migrations/runner.js';
import { systemMigrations } from '../../src/db/migrations/system.js';
import { sharedPostgres } from '../harness/shared-engines.js';
import { spawnTs } from '../support/process.js';

const postgres = sharedPostgres();
const tmp = mkdtempSync(join(tmpdir(), 'gw-db-'));
let sqliteFiles = 0;

/** The same suite runs on every dialect: add a driver here and it must pass all of it. */
const targets = [
  {
    name: 'sqlite',
    available: true,
    newUrl: async () => `sqlite://${join(tmp, `conf-${sqliteFiles++}.db`)}`,
  },
  { name: 'postgres', available: postgres.available, newUrl: () => postgres.createDatabase('conf') },
];

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    return (error as GroundworkError).code;
  }
  throw new Error('expected the operation to fail');
}

for (const target of targets) {
  describe.skipIf(!target.available)(`database conformance: ${target.name}`, () => {
    let db: Database<AnyDb>;

    beforeAll(async () => {
      db = new Database({ url: await target.newUrl(), poolMax: 10 });
      await db.start();
      await db.kysely.schema
        .createTable('parents')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('qty', 'integer', (c) => c.notNull().defaultTo(0).check(sql`qty >= 0`))
        .execute();
      await db.kysely.schema
        .createTable('children')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('parent_id', 'integer', (c) => c.notNull().references('parents.id').onDelete('restrict'))
        .execute();
      await db.kysely.schema
        .createTable('counter')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('n', 'integer', (c) => c.notNull())
        .execute();
      await db.kysely.insertInto('counter').values({ id: 1, n: 0 }).execute();
    });

    afterAll(() => db?.close());

    it('creates, reads, updates and deletes rows', async () => {
      await db.kysely.insertInto('parents').values({ id: 1, name: 'one', qty: 3 }).execute();
      expect(
        await db.kysely.selectFrom('parents').selectAll().where('id', '=', 1).executeTakeFirst(),
      ).toEqual({
        id: 1,
        name: 'one',
        qty: 3,
      });
      await db.kysely.updateTable('parents').set({ qty: 5 }).where('id', '=', 1).execute();
      expect(
        (await db.kysely.selectFrom('parents').select('qty').where('id', '=', 1).executeTakeFirst())?.qty,
      ).toBe(5);
      const deleted = await db.kysely.deleteFrom('parents').where('id', '=', 1).executeTakeFirst();
      expect(Number(deleted.numDeletedRows)).toBe(1);
      expect(
        await db.kysely.selectFrom('parents').selectAll().where('id', '=', 1).executeTakeFirst(),
      ).toBeUndefined();
    });

    it('commits a transaction that resolves', async () => {
      const result = await db.transaction(async (trx) => {
        await trx.insertInto('parents').values({ id: 10, name: 'ten' }).execute();
        await trx.insertInto('children').values({ id: 100, parent_id: 10 }).execute();
        return 'done';
      });
      expect(result).toBe('done');
      expect(
        await db.kysely.selectFrom('children').selectAll().where('id', '=', 100).executeTakeFirst(),
      ).toEqual({
        id: 100,
        parent_id: 10,
      });
    });

    it('rolls back every write of a transaction that throws, and rethrows the error', async () => {
      const failure = new Error('abort this');
      await expect(
        db.transaction(async (trx) => {
          await trx.insertInto('parents').values({ id: 20, name: 'twenty' }).execute();
          await trx.updateTable('counter').set({ n: 999 }).where('id', '=', 1).execute();
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(
        await db.kysely.selectFrom('parents').selectAll().where('id', '=', 20).executeTakeFirst(),
      ).toBeUndefined();
      expect(
        (await db.kysely.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirst())?.n,
      ).not.toBe(999);
    });

    it('rolls back a transaction whose statement fails, leaving nothing behind', async () => {
      expect(
        await codeOf(
          db.transaction(async (trx) => {
            await trx.insertInto('parents').values({ id: 30, name: 'thirty' }).execute();
            await trx.insertInto('parents').values({ id: 31, name: 'thirty' }).execute();
          }),
        ),
      ).toBe('DB_ERR_UNIQUE_VIOLATION');
      expect(await db.kysely.selectFrom('parents').selectAll().where('id', 'in', [30, 31]).execute()).toEqual(
        [],
      );
    });

    it('runs concurrent transactions without losing an update', async () => {
      const before = (
        await db.kysely.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow()
      ).n;
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          db.transaction(async (trx) => {
            await trx
              .updateTable('counter')
              .set((eb) => ({ n: eb('n', '+', 1) }))
              .where('id', '=', 1)
              .execute();
            await trx
              .insertInto('parents')
              .values({ id: 1000 + i, name: `c${i}` })
              .execute();
          }),
        ),
      );
      const after = (
        await db.kysely.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow()
      ).n;
      expect(Number(after) - Number(before)).toBe(25);
      const rows = await db.kysely.selectFrom('parents').select('id').where('id', '>=', 1000).execute();
      expect(rows).toHaveLength(25);
    });

    it('isolates an open transaction: its uncommitted write is invisible outside until commit', async () => {
      if (!db.capabilities.concurrentTransactions) {
        // One connection: the outside read queues behind the transaction, so it sees the commit.
        const inside = db.transaction(async (trx) =>
          trx.insertInto('parents').values({ id: 40, name: 'forty' }).execute(),
        );
        const outside = db.kysely.selectFrom('parents').selectAll().where('id', '=', 40).execute();
        await inside;
        expect(await outside).toHaveLength(1);
        return;
      }
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let written!: () => void;
      const wrote = new Promise<void>((r) => {
        written = r;
      });
      const inside = db.transaction(async (trx) => {
        await trx.insertInto('parents').values({ id: 40, name: 'forty' }).execute();
        written();
        await gate;
      });
      await wrote;
      expect(await db.kysely.selectFrom('parents').selectAll().where('id', '=', 40).execute()).toHaveLength(
        0,
      );
      release();
      await inside;
      expect(await db.kysely.selectFrom('parents').selectAll().where('id', '=', 40).execute()).toHaveLength(
        1,
      );
    });

    it('maps serialization conflicts to DB_ERR_SERIALIZATION_FAILURE (when transactions run concurrently)', async () => {
      if (!db.capabilities.concurrentTransactions) {
        expect(db.dialect).toBe('sqlite'); // SQLite serializes writers: no conflict can arise in-process
        return;
      }
      await db.kysely.insertInto('counter').values({ id: 2, n: 0 }).execute();
      let bothRead!: () => void;
      let reads = 0;
      const barrier = new Promise<void>((r) => {
        bothRead = r;
      });
      const bump = () =>
        db.transaction(
          async (trx) => {
            const row = await trx
              .selectFrom('counter')
              .select('n')
              .where('id', '=', 2)
              .executeTakeFirstOrThrow();
            if (++reads === 2) bothRead();
            await barrier;
            await trx
              .updateTable('counter')
              .set({ n: Number(row.n) + 1 })
              .where('id', '=', 2)
              .execute();
          },
          { isolation: 'serializable' },
        );
      const results = await Promise.allSettled([bump(), bump()]);
      const failed = results.filter((r) => r.status === 'rejected');
      expect(failed).toHaveLength(1);
      expect(((failed[0] as PromiseRejectedResult).reason as GroundworkError).code).toBe(
        'DB_ERR_SERIALIZATION_FAILURE',
      );
      expect(
        (await db.kysely.selectFrom('counter').select('n').where('id', '=', 2).executeTakeFirstOrThrow()).n,
      ).toBe(1);
    });

    it('maps constraint errors to stable codes at the driver boundary', async () => {
      await db.kysely.insertInto('parents').values({ id: 50, name: 'fifty' }).execute();
      await db.kysely.insertInto('children').values({ id: 500, parent_id: 50 }).execute();
      expect(await codeOf(db.kysely.insertInto('parents').values({ id: 51, name: 'fifty' }).execute())).toBe(
        'DB_ERR_UNIQUE_VIOLATION',
      );
      expect(await codeOf(db.kysely.insertInto('parents').values({ id: 50, name: 'other' }).execute())).toBe(
        'DB_ERR_UNIQUE_VIOLATION',
      );
      expect(
        await codeOf(db.kysely.insertInto('children').values({ id: 501, parent_id: 9999 }).execute()),
      ).toBe('DB_ERR_FOREIGN_KEY_VIOLATION');
      expect(await codeOf(db.kysely.deleteFrom('parents').where('id', '=', 50).execute())).toBe(
        'DB_ERR_FOREIGN_KEY_VIOLATION',
      );
      expect(await codeOf(db.kysely.insertInto('parents').values({ id: 52, name: null }).execute())).toBe(
        'DB_ERR_NOT_NULL_VIOLATION',
      );
      expect(
        await codeOf(db.kysely.insertInto('parents').values({ id: 53, name: 'neg', qty: -1 }).execute()),
      ).toBe('DB_ERR_CHECK_VIOLATION');
    });

    it('maps any other engine error to DB_ERR_QUERY without exposing the engine message', async () => {
      try {
        await sql`select * from no_such_table_xyz`.execute(db.kysely);
        expect.unreachable();
      } catch (error) {
        const gw = error as GroundworkError;
        expect(gw.code).toBe('DB_ERR_QUERY');
        expect(gw.detail).toBeUndefined();
        expect(gw.message).not.toContain('no_such_table_xyz');
        expect(String((gw.cause as Error).message)).toContain('no_such_table_xyz'); // kept for the log
      }
    });

    it('applies migrations once; a second run applies nothing', async () => {
      const fresh = new Database({ url: await target.newUrl() });
      await fresh.start();
      try {
        const first = await migrate(fresh, systemMigrations);
        expect(first.applied).toEqual(systemMigrations.map((m) => m.id));
        const second = await migrate(fresh, systemMigrations);
        expect(second.applied).toEqual([]);
        expect(second.alreadyApplied).toEqual(first.applied);
        const rows = await fresh.kysely.selectFrom(MIGRATIONS_TABLE).select('id').execute();
        expect(rows.map((r) => r.id)).toEqual(first.applied);
      } finally {
        await fresh.close();
      }
    });

    it('rolls back the whole run when a migration fails', async () => {
      const fresh = new Database({ url: await target.newUrl() });
      await fresh.start();
      try {
        const failing = [
          {
            id: '0001_ok',
            up: (k: typeof fresh.kysely) => k.schema.createTable('m_ok').addColumn('id', 'integer').execute(),
          },
          {
            id: '0002_bad',
            up: async (k: typeof fresh.kysely) => {
              await k.schema.createTable('m_bad').addColumn('id', 'integer').execute();
              await sql`select * from missing_table_for_migration`.execute(k);
            },
          },
        ];
        expect(await codeOf(migrate(fresh, failing))).toBe('DB_ERR_MIGRATION_FAILED');
        // Even the bookkeeping table, created in the same transaction, is gone.
        for (const table of ['m_ok', 'm_bad', MIGRATIONS_TABLE]) {
          expect(await codeOf(sql`select * from ${sql.table(table)}`.execute(fresh.kysely))).toBe(
            'DB_ERR_QUERY',
          );
        }
      } finally {
        await fresh.close();
      }
    });

    it('lets only one of two processes migrating at once apply a migration (lock)', async () => {
      const url = await target.newUrl();
      const fixture = fileURLToPath(new URL('../fixtures/migrate-slow.ts', import.meta.url));
      const runs = [spawnTs(fixture, [url]), spawnTs(fixture, [url])];
      const exits = await Promise.all(runs.map((r) => r.exited));
      for (const [i, exit] of exits.entries()) expect(exit.code, runs[i]!.stderr()).toBe(0);
      const results = runs.map((r) => JSON.parse(r.stdout().trim()) as { applied: string[] });
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 1]);
      const check = new Database({ url });
      try {
        const probe = await check.kysely.selectFrom('lock_probe').selectAll().execute();
        expect(probe).toHaveLength(1);
      } finally {
        await check.close();
      }
    });

    it('refuses queries after close with DB_ERR_CLOSED', async () => {
      const fresh = new Database({ url: await target.newUrl() });
      await fresh.start();
      await fresh.close();
      await fresh.close(); // idempotent
      expect(await fresh.check()).toBe('closed');
      expect(await codeOf(sql`select 1`.execute(fresh.kysely))).toBe('DB_ERR_CLOSED');
    });
  });
}

describe('database URL', () => {
  it('rejects unsupported schemes with DB_ERR_UNSUPPORTED_URL', () => {
    expect(() => new Database({ url: 'mysql://x' })).toThrow(
      expect.objectContaining({ code: 'DB_ERR_UNSUPPORTED_URL' }) as unknown as Error,
    );
  });
});
