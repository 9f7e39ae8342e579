import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthHousekeeping } from '../../src/auth/auth-housekeeping.js';
import { SqlSessionStore } from '../../src/auth/sessions/drivers/sql-session-store.js';
import { Sessions } from '../../src/auth/sessions/sessions.js';
import { REFRESH_TOKENS_TABLE, RefreshTokens } from '../../src/auth/tokens/refresh-tokens.js';
import { MailTokens } from '../../src/auth/users/mail-tokens.js';
import { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrations/runner.js';
import { systemMigrations } from '../../src/db/migrations/system.js';
import { sharedPostgres } from '../harness/shared-engines.js';

const postgres = sharedPostgres();
const tmp = mkdtempSync(join(tmpdir(), 'gw-housekeeping-'));
const targets = [
  { name: 'sqlite', available: true, newUrl: async () => `sqlite://${join(tmp, 'housekeeping.db')}` },
  { name: 'postgres', available: postgres.available, newUrl: () => postgres.createDatabase('housekeeping') },
];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

for (const target of targets) {
  describe.skipIf(!target.available)(`auth housekeeping: ${target.name}`, () => {
    let db: Database;
    let now = Date.UTC(2026, 0, 1);
    const clock = () => now;

    beforeAll(async () => {
      db = new Database({ url: await target.newUrl(), poolMax: 4 });
      await db.start();
      await migrate(db, systemMigrations);
    });
    afterAll(async () => {
      await db?.close();
    });

    const count = async (table: string): Promise<number> => {
      const row = await db.kysely
        .selectFrom(table as never)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number((row as { n: unknown }).n);
    };

    it('deletes exactly the ended sessions, spent or expired mail tokens and expired refresh families', async () => {
      const options = { idleTimeoutMs: HOUR, absoluteTimeoutMs: DAY, touchIntervalMs: MINUTE, now: clock };
      const sessions = new Sessions(new SqlSessionStore(db), options);
      // Another node's settings: sessions that end 30 minutes after sign-in.
      const short = new Sessions(new SqlSessionStore(db), { ...options, absoluteTimeoutMs: 30 * MINUTE });
      const mailTokens = new MailTokens(db, { now: clock });
      const refreshTokens = new RefreshTokens(db, { clock, ttlMs: DAY, familyLifetimeMs: HOUR });
      const user = (id: string) => ({ collection: 'users', userId: id, email: `${id}@example.test` });

      const t0 = now;
      await sessions.start({ collection: 'users', userId: 'idle' });
      await short.start({ collection: 'users', userId: 'ending' }); // past its end at t0 + 30 min
      const spent = await mailTokens.issue('verify-email', user('a'), HOUR);
      expect(await mailTokens.consume('verify-email', spent)).toBeDefined();
      await mailTokens.issue('reset-password', user('b'), 10 * MINUTE); // will expire
      const usable = await mailTokens.issue('verify-email', user('c'), DAY);
      await refreshTokens.issue({ id: 'old', collection: 'users' }); // its family ends at t0 + 1 h

      now = t0 + 40 * MINUTE;
      const active = await sessions.start({ collection: 'users', userId: 'active' });
      const live = await refreshTokens.issue({ id: 'new', collection: 'users' }); // ends at t0 + 100 min

      now = t0 + 70 * MINUTE; // "idle" last seen 70 min ago; "active" 30 min ago
      const housekeeping = new AuthHousekeeping({
        sessions,
        mailTokens,
        refreshTokens,
        logger: pino({ level: 'silent' }),
      });
      expect(await housekeeping.sweep()).toEqual({ sessions: 2, mailTokens: 2, refreshTokens: 1 });
      expect(await count('_gw_auth_sessions')).toBe(1);
      expect(await count('_gw_auth_mail_tokens')).toBe(1);
      expect(await count(REFRESH_TOKENS_TABLE)).toBe(1);
      // What is left still works.
      expect(await sessions.resolve(active.secret)).toMatchObject({ userId: 'active' });
      expect(await mailTokens.consume('verify-email', usable)).toMatchObject({ userId: 'c' });
      await expect(refreshTokens.rotate(live.token)).resolves.toMatchObject({ familyId: live.familyId });
      // Nothing more to delete but the token just consumed (spent) and the family's rotated-out token.
      expect(await housekeeping.sweep()).toEqual({ sessions: 0, mailTokens: 1, refreshTokens: 0 });
    });

    it('keeps a session that is neither idle nor past its end', async () => {
      const sessions = new Sessions(new SqlSessionStore(db), {
        idleTimeoutMs: HOUR,
        absoluteTimeoutMs: DAY,
        touchIntervalMs: MINUTE,
        now: clock,
      });
      await db.kysely.deleteFrom('_gw_auth_sessions' as never).execute();
      const { secret } = await sessions.start({ collection: 'users', userId: 'keep' });
      now += 30 * MINUTE;
      expect(await sessions.deleteEnded()).toBe(0);
      expect(await sessions.resolve(secret)).toBeDefined();
      await sessions.end(secret);
    });

    it('one sweep at a time: a call during a sweep shares its result', async () => {
      const sessions = new Sessions(new SqlSessionStore(db), {
        idleTimeoutMs: HOUR,
        absoluteTimeoutMs: DAY,
        now: clock,
      });
      const housekeeping = new AuthHousekeeping({
        sessions,
        mailTokens: new MailTokens(db, { now: clock }),
        refreshTokens: new RefreshTokens(db, { clock }),
        logger: pino({ level: 'silent' }),
      });
      const first = housekeeping.sweep();
      expect(housekeeping.sweep()).toBe(first);
      await first;
      expect(housekeeping.sweep()).not.toBe(first);
      await housekeeping.stop();
    });
  });
}
