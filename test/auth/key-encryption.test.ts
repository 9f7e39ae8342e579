import { randomBytes, sign, verify } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyEncryption } from '../../src/auth/tokens/key-encryption.js';
import { SIGNING_KEYS_TABLE, SigningKeys } from '../../src/auth/tokens/signing-keys.js';
import { GroundworkError } from '../../src/core/errors.js';
import { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrations/runner.js';
import { systemMigrations } from '../../src/db/migrations/system.js';
import { sharedPostgres } from '../harness/shared-engines.js';

const postgres = sharedPostgres();
const tmp = mkdtempSync(join(tmpdir(), 'gw-kek-'));
const targets = [
  { name: 'sqlite', available: true, newUrl: async () => `sqlite://${join(tmp, `kek-${Date.now()}.db`)}` },
  { name: 'postgres', available: postgres.available, newUrl: () => postgres.createDatabase('kek') },
];

for (const target of targets) {
  describe.skipIf(!target.available)(`signing keys encrypted at rest: ${target.name}`, () => {
    let db: Database;
    const oldKek = randomBytes(32);
    const newKek = randomBytes(32);

    beforeAll(async () => {
      db = new Database({ url: await target.newUrl(), poolMax: 4 });
      await db.start();
      await migrate(db, systemMigrations);
    });
    afterAll(async () => {
      await db?.close();
    });

    const storedKeys = async (): Promise<string[]> =>
      (
        await db.kysely
          .selectFrom(SIGNING_KEYS_TABLE as never)
          .select('private_key' as never)
          .execute()
      ).map((row) => String((row as { private_key: unknown }).private_key));

    const signs = async (keys: SigningKeys): Promise<boolean> => {
      const key = await keys.current();
      const data = Buffer.from('payload');
      return verify(null, data, key.publicKey, sign(null, data, key.privateKey));
    };

    it('moves clear keys under a key-encryption key, then to a new one, and signs throughout', async () => {
      // A node without encryption creates the first key: stored in clear.
      const clear = new SigningKeys(db);
      expect(await signs(clear)).toBe(true);
      expect(await storedKeys()).toEqual([expect.stringContaining('PRIVATE KEY')]);

      // With a key-encryption key, the next load wraps it; the same key keeps signing.
      const kid = (await clear.current()).kid;
      const wrapped = new SigningKeys(db, { encryption: new KeyEncryption(oldKek) });
      expect((await wrapped.current()).kid).toBe(kid);
      const [stored] = await storedKeys();
      expect(stored).toMatch(/^gwkek1\./);
      expect(stored).not.toContain('PRIVATE KEY');
      expect(await signs(new SigningKeys(db, { encryption: new KeyEncryption(oldKek) }))).toBe(true);

      // A node without the key still verifies (public keys are in clear) but cannot sign.
      const blind = new SigningKeys(db);
      const current = await blind.current();
      expect(await blind.verificationKey(kid)).toBeDefined();
      expect(() => current.privateKey).toThrow(GroundworkError);

      // Changing keys: the new one current, the old one previous; rows move to the new one.
      const rotating = new SigningKeys(db, { encryption: new KeyEncryption(newKek, oldKek) });
      expect(await signs(rotating)).toBe(true);
      const moved = await storedKeys();
      expect(moved.every((text) => text.startsWith('gwkek1.'))).toBe(true);
      expect(moved).not.toContain(stored);
      // After which the old key can go.
      expect(await signs(new SigningKeys(db, { encryption: new KeyEncryption(newKek) }))).toBe(true);
      // And only the right key opens them.
      let error: unknown;
      try {
        void (await new SigningKeys(db, { encryption: new KeyEncryption(oldKek) }).current()).privateKey;
      } catch (caught) {
        error = caught;
      }
      expect((error as GroundworkError).code).toBe('AUTH_ERR_TOKEN_CONFIG');
      expect((error as GroundworkError).detail).toMatch(/previousKeyEncryptionKey/);
    });

    it('new keys are created wrapped', async () => {
      const keys = new SigningKeys(db, { encryption: new KeyEncryption(newKek) });
      const rotated = await keys.rotate();
      const rows = await db.kysely
        .selectFrom(SIGNING_KEYS_TABLE as never)
        .select(['kid' as never, 'private_key' as never])
        .execute();
      const row = rows.find((r) => (r as { kid: string }).kid === rotated.kid) as { private_key: string };
      expect(row.private_key).toMatch(/^gwkek1\./);
      expect(await signs(keys)).toBe(true);
    });
  });
}
