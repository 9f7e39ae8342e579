import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AccessTokens,
  type AccessTokensOptions,
  TokenRejection,
  type TokenRejectionReason,
} from '../../src/auth/tokens/access-tokens.js';
import { REFRESH_TOKENS_TABLE, RefreshTokens } from '../../src/auth/tokens/refresh-tokens.js';
import {
  jwkThumbprint,
  SIGNING_KEYS_TABLE,
  SigningKeys,
  type SigningKeysOptions,
} from '../../src/auth/tokens/signing-keys.js';
import { GroundworkError } from '../../src/core/errors.js';
import { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrations/runner.js';
import { systemMigrations } from '../../src/db/migrations/system.js';
import { sharedPostgres } from '../harness/shared-engines.js';

const postgres = sharedPostgres();
const tmp = mkdtempSync(join(tmpdir(), 'gw-tokens-'));

/** The same suite runs on every dialect: add a driver here and it must pass all of it. */
const targets = [
  { name: 'sqlite', available: true, newUrl: async () => `sqlite://${join(tmp, 'tokens.db')}` },
  { name: 'postgres', available: postgres.available, newUrl: () => postgres.createDatabase('tokens') },
];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ISSUER = 'https://gw.test';
const AUDIENCE = 'gw-api';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWS over `header.payload`, signed by `signer` (any algorithm the test crafts). */
function craft(header: object, payload: object, signer: (input: Buffer) => Buffer | string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = signer(Buffer.from(input));
  return `${input}.${typeof signature === 'string' ? signature : signature.toString('base64url')}`;
}
const ed25519 = (key: KeyObject) => (input: Buffer) => sign(null, input, key);

async function rejection(
  promise: Promise<unknown>,
  code = 'AUTH_ERR_INVALID_TOKEN',
): Promise<TokenRejectionReason> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(GroundworkError);
  const error = caught as GroundworkError;
  expect(error.code).toBe(code);
  expect(error.status).toBe(401);
  if (code === 'AUTH_ERR_INVALID_TOKEN') {
    expect(error.headers).toEqual({ 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  // One public message whatever the reason; the reason is only in the internal cause.
  expect(error.cause).toBeInstanceOf(TokenRejection);
  expect(error.detail).toBe(
    code === 'AUTH_ERR_INVALID_TOKEN'
      ? 'The access token is invalid or has expired.'
      : 'The refresh token is invalid, expired or revoked: sign in again.',
  );
  return (error.cause as TokenRejection).reason;
}

for (const target of targets) {
  describe.skipIf(!target.available)(`auth tokens: ${target.name}`, () => {
    let url: string;
    let db: Database;
    /** A second connection pool on the same database: another node of the cluster. */
    let db2: Database;
    let now: number;
    const clock = () => now;

    const newKeys = (database = db, options: SigningKeysOptions = {}) =>
      new SigningKeys(database, { clock, ...options });
    const newRefresh = (database = db) => new RefreshTokens(database, { clock });
    const newAccess = (
      keys: SigningKeys,
      sessions: RefreshTokens,
      options: Partial<AccessTokensOptions> = {},
    ) => new AccessTokens(keys, { issuer: ISSUER, audience: AUDIENCE, sessions, clock, ...options });

    beforeAll(async () => {
      url = await target.newUrl();
      db = new Database({ url, poolMax: 10 });
      await db.start();
      await migrate(db, systemMigrations);
      // better-sqlite3 is synchronous: a second connection in this process would wait for the
      // write lock while blocking the event loop that must release it. SQLite is single-node
      // (capabilities.crossProcess is false), so its "other node" shares the one connection.
      db2 = db.capabilities.crossProcess ? new Database({ url, poolMax: 10 }) : db;
      await db2.start();
    });
    afterAll(async () => {
      if (db2 !== db) await db2?.close();
      await db?.close();
    });
    beforeEach(async () => {
      now = Date.UTC(2030, 0, 1);
      await db.kysely.deleteFrom(SIGNING_KEYS_TABLE).execute();
      await db.kysely.deleteFrom(REFRESH_TOKENS_TABLE).execute();
    });

    describe('access tokens', () => {
      let keys: SigningKeys;
      let refresh: RefreshTokens;
      let access: AccessTokens;
      let familyId: string;
      /** Valid claims for the current session; tests override one thing at a time. */
      const claims = (over: Record<string, unknown> = {}) => {
        const iat = Math.floor(now / 1000);
        return {
          iss: ISSUER,
          aud: AUDIENCE,
          sub: 'u1',
          iat,
          exp: iat + 900,
          jti: 'j1',
          col: 'users',
          sid: familyId,
          ...over,
        };
      };

      beforeEach(async () => {
        keys = newKeys();
        refresh = newRefresh();
        access = newAccess(keys, refresh);
        familyId = (await refresh.issue({ id: 'u1', collection: 'users' })).familyId;
      });

      it('a crafted token with the real key and valid claims verifies (the rejections below are real)', async () => {
        const key = await keys.current();
        const token = craft({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid }, claims(), ed25519(key.privateKey));
        expect((await access.verify(token)).sid).toBe(familyId);
        const issued = await access.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        expect(await access.verify(issued.token)).toMatchObject({ sub: 'u1', col: 'users', sid: familyId });
        // RFC 9068 §4 also allows the media-type spelling.
        const long = craft(
          { alg: 'EdDSA', typ: 'application/at+jwt', kid: key.kid },
          claims(),
          ed25519(key.privateKey),
        );
        expect((await access.verify(long)).sub).toBe('u1');
      });

      it('refuses alg none, with or without a signature', async () => {
        const { kid } = await keys.current();
        expect(
          await rejection(access.verify(craft({ alg: 'none', typ: 'at+jwt', kid }, claims(), () => ''))),
        ).toBe('malformed');
        expect(
          await rejection(access.verify(craft({ alg: 'none', typ: 'at+jwt', kid }, claims(), () => 'AAAA'))),
        ).toBe('algorithm');
      });

      it('refuses algorithm confusion: HS256 keyed with the public key, RS256, ES256', async () => {
        const { kid, publicKey } = await keys.current();
        const header = (alg: string) => ({ alg, typ: 'at+jwt', kid });
        for (const secret of [
          publicKey.export({ format: 'pem', type: 'spki' }) as string,
          JSON.stringify(publicKey.export({ format: 'jwk' })),
          publicKey.export({ format: 'der', type: 'spki' }),
        ]) {
          const hs256 = craft(header('HS256'), claims(), (input) =>
            createHmac('sha256', secret).update(input).digest(),
          );
          expect(await rejection(access.verify(hs256))).toBe('algorithm');
        }
        const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const rs256 = craft(header('RS256'), claims(), (input) => sign('sha256', input, rsa.privateKey));
        expect(await rejection(access.verify(rs256))).toBe('algorithm');
        const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const es256 = craft(header('ES256'), claims(), (input) =>
          sign('sha256', input, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }),
        );
        expect(await rejection(access.verify(es256))).toBe('algorithm');
        // The fully-specified RFC 9864 name is not what we issue either.
        const key = await keys.current();
        const ed = craft(header('Ed25519'), claims(), ed25519(key.privateKey));
        expect(await rejection(access.verify(ed))).toBe('algorithm');
      });

      it('refuses a missing kid, an unknown kid, a kid that is not a thumbprint, and a foreign key', async () => {
        const key = await keys.current();
        const attacker = generateKeyPairSync('ed25519');
        const attackerKid = jwkThumbprint(attacker.publicKey.export({ format: 'jwk' }) as never);
        const signWithOurs = ed25519(key.privateKey);
        expect(
          await rejection(access.verify(craft({ alg: 'EdDSA', typ: 'at+jwt' }, claims(), signWithOurs))),
        ).toBe('kid-missing');
        expect(
          await rejection(
            access.verify(craft({ alg: 'EdDSA', typ: 'at+jwt', kid: 7 }, claims(), signWithOurs)),
          ),
        ).toBe('kid-missing');
        const unknown = craft(
          { alg: 'EdDSA', typ: 'at+jwt', kid: attackerKid },
          claims(),
          ed25519(attacker.privateKey),
        );
        expect(await rejection(access.verify(unknown))).toBe('kid-unknown');
        const traversal = craft(
          { alg: 'EdDSA', typ: 'at+jwt', kid: '../../etc/passwd' },
          claims(),
          signWithOurs,
        );
        expect(await rejection(access.verify(traversal))).toBe('kid-unknown');
        // Our kid, someone else's signature.
        const forged = craft(
          { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid },
          claims(),
          ed25519(attacker.privateKey),
        );
        expect(await rejection(access.verify(forged))).toBe('signature');
        // An embedded key (RFC 7515 jwk header) is never trusted: only our header parameters pass.
        const embedded = craft(
          { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid, jwk: attacker.publicKey.export({ format: 'jwk' }) },
          claims(),
          ed25519(attacker.privateKey),
        );
        expect(await rejection(access.verify(embedded))).toBe('header');
        const crit = craft(
          { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid, b64: false, crit: ['b64'] },
          claims(),
          signWithOurs,
        );
        expect(await rejection(access.verify(crit))).toBe('header');
        const jku = craft(
          { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid, jku: 'https://evil.test/jwks' },
          claims(),
          signWithOurs,
        );
        expect(await rejection(access.verify(jku))).toBe('header');
      });

      it('refuses a wrong or missing typ', async () => {
        const key = await keys.current();
        for (const typ of ['JWT', 'jwt', 'at+JWT2', undefined]) {
          const token = craft({ alg: 'EdDSA', typ, kid: key.kid }, claims(), ed25519(key.privateKey));
          expect(await rejection(access.verify(token)), String(typ)).toBe('type');
        }
      });

      it('refuses a wrong issuer or audience', async () => {
        const key = await keys.current();
        const signer = ed25519(key.privateKey);
        const header = { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid };
        expect(
          await rejection(access.verify(craft(header, claims({ iss: 'https://evil.test' }), signer))),
        ).toBe('issuer');
        expect(await rejection(access.verify(craft(header, claims({ aud: 'other-api' }), signer)))).toBe(
          'audience',
        );
        expect(await rejection(access.verify(craft(header, claims({ aud: ['other-api'] }), signer)))).toBe(
          'audience',
        );
        // The same token verified by a service with another audience.
        const { token } = await access.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        expect(await rejection(newAccess(keys, refresh, { audience: 'other-api' }).verify(token))).toBe(
          'audience',
        );
        expect(
          await rejection(newAccess(keys, refresh, { issuer: 'https://other.test' }).verify(token)),
        ).toBe('issuer');
      });

      it('refuses missing or mistyped claims', async () => {
        const key = await keys.current();
        const signer = ed25519(key.privateKey);
        const header = { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid };
        for (const over of [
          { sid: undefined },
          { col: 7 },
          { sub: '' },
          { jti: undefined },
          { scope: ['a'] },
        ]) {
          expect(
            await rejection(access.verify(craft(header, claims(over), signer))),
            JSON.stringify(over),
          ).toBe('claims');
        }
        expect(await rejection(access.verify(craft(header, claims({ exp: undefined }), signer)))).toBe(
          'claims',
        );
        expect(await rejection(access.verify(craft(header, claims({ iat: 'now' }), signer)))).toBe('claims');
      });

      it('expires at exp plus the clock tolerance (30 s), on a fake clock', async () => {
        const { token, expiresAtMs } = await access.issue({
          sub: 'u1',
          collection: 'users',
          sessionId: familyId,
        });
        expect(expiresAtMs - now).toBe(15 * MINUTE);
        now = expiresAtMs + 29_000;
        expect((await access.verify(token)).sub).toBe('u1');
        now = expiresAtMs + 30_000;
        expect(await rejection(access.verify(token))).toBe('expired');
        // A tolerance of 0 is exact.
        const strict = newAccess(keys, refresh, { clockToleranceMs: 0 });
        const issued = await strict.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        now = issued.expiresAtMs - 1_000;
        expect((await strict.verify(issued.token)).sub).toBe('u1');
        now = issued.expiresAtMs;
        expect(await rejection(strict.verify(issued.token))).toBe('expired');
      });

      it('refuses nbf or iat in the future beyond the tolerance, and a token older than the TTL by its iat', async () => {
        const key = await keys.current();
        const signer = ed25519(key.privateKey);
        const header = { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid };
        const nowS = Math.floor(now / 1000);
        expect((await access.verify(craft(header, claims({ nbf: nowS + 30 }), signer))).sub).toBe('u1');
        expect(await rejection(access.verify(craft(header, claims({ nbf: nowS + 31 }), signer)))).toBe(
          'not-yet-valid',
        );
        expect((await access.verify(craft(header, claims({ iat: nowS + 30 }), signer))).sub).toBe('u1');
        expect(
          await rejection(access.verify(craft(header, claims({ iat: nowS + 31, exp: nowS + 900 }), signer))),
        ).toBe('issued-in-future');
        // exp far ahead does not help a token issued longer ago than the TTL.
        const old = craft(header, claims({ iat: nowS - 900 - 31, exp: nowS + 3_600 }), signer);
        expect(await rejection(access.verify(old))).toBe('expired');
      });

      it('refuses malformed tokens of every shape, and overlong ones before parsing', async () => {
        const { token } = await access.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        const [h, p, s] = token.split('.') as [string, string, string];
        const shapes: unknown[] = [
          '',
          'abc',
          `${h}.${p}`,
          `${token}.${s}`,
          `${h}..${s}`,
          `.${p}.${s}`,
          `${h}.${p}.`,
          `${h}.${p}.${s}=`,
          ` ${token}`,
          `${token}\n`,
          `Bearer ${token}`,
          `${b64('x')}.${p}.${s}`,
          `${b64([1, 2])}.${p}.${s}`,
          `${Buffer.from('{not json').toString('base64url')}.${p}.${s}`,
          `${h}.${Buffer.from('{not json').toString('base64url')}.${s}`,
          `${h}.${b64([])}.${s}`,
          `${h}.${p}.${s.slice(0, -2)}`,
          '....',
          null,
          undefined,
          42,
          { token },
          [token],
        ];
        for (const shape of shapes) {
          expect(['malformed', 'signature', 'claims']).toContain(await rejection(access.verify(shape)));
        }
        expect(await rejection(access.verify(`${token}${'A'.repeat(4097 - token.length)}`))).toBe('too-long');
        expect(await rejection(access.verify('a'.repeat(1_000_000)))).toBe('too-long');
      });

      it('refuses a token whose session is revoked, on this node at once and on another within the cache bound', async () => {
        const { token } = await access.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        const otherNode = newAccess(newKeys(db2), newRefresh(db2));
        expect((await otherNode.verify(token)).sid).toBe(familyId); // caches "active"
        expect(await refresh.revokeFamily(familyId)).toBe(true);
        expect(await rejection(access.verify(token))).toBe('session-revoked');
        now += 4_999;
        expect((await otherNode.verify(token)).sid).toBe(familyId);
        now += 1;
        expect(await rejection(otherNode.verify(token))).toBe('session-revoked');
      });

      it('revokeAllForUser ends every session of that user only', async () => {
        const second = await refresh.issue({ id: 'u1', collection: 'users' });
        const stranger = await refresh.issue({ id: 'u2', collection: 'users' });
        const sameIdOtherCollection = await refresh.issue({ id: 'u1', collection: 'admins_like' });
        const { token } = await access.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        expect((await access.verify(token)).sid).toBe(familyId);
        await refresh.revokeAllForUser('users', 'u1');
        expect(await rejection(access.verify(token))).toBe('session-revoked');
        expect(await refresh.isFamilyActive(second.familyId)).toBe(false);
        expect(await refresh.isFamilyActive(stranger.familyId)).toBe(true);
        expect(await refresh.isFamilyActive(sameIdOtherCollection.familyId)).toBe(true);
        expect(await rejection(refresh.rotate(second.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe(
          'revoked',
        );
      });

      it('arbitrary strings and JWT-shaped strings never raise anything but AUTH_ERR_INVALID_TOKEN (property)', async () => {
        const key = await keys.current();
        const segment = fc.oneof(
          fc.string().map((s) => Buffer.from(s).toString('base64url')),
          fc.jsonValue().map(b64),
        );
        const header = fc.record(
          {
            alg: fc.constantFrom('EdDSA', 'none', 'HS256'),
            typ: fc.constantFrom('at+jwt', 'JWT'),
            kid: fc.oneof(fc.constant(key.kid), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)),
          },
          { requiredKeys: [] },
        );
        const token = fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
          fc.tuple(header.map(b64), segment, segment).map((parts) => parts.join('.')),
        );
        await fc.assert(
          fc.asyncProperty(token, async (value) => {
            now += 250; // lets some unknown-kid reloads through the rate limit
            const error = await access.verify(value).then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(error).toBeInstanceOf(GroundworkError);
            expect((error as GroundworkError).code).toBe('AUTH_ERR_INVALID_TOKEN');
          }),
          { numRuns: 200 },
        );
      });
    });

    describe('signing keys', () => {
      it('creates one key on first use and publishes only public parts in the JWKS', async () => {
        const keys = newKeys();
        expect((await keys.jwks()).keys).toEqual([]);
        const key = await keys.current();
        const jwks = await keys.jwks();
        expect(jwks.keys).toEqual([
          { kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: key.kid, alg: 'EdDSA', use: 'sig' },
        ]);
        expect(jwks.keys[0]?.kid).toBe(jwkThumbprint(jwks.keys[0]!));
        expect(JSON.stringify(jwks)).not.toMatch(/"d"|PRIVATE/);
        for (const text of [
          JSON.stringify(keys),
          inspect(keys, { depth: 10 }),
          JSON.stringify(key),
          inspect(key),
        ]) {
          expect(text).not.toContain('PRIVATE KEY');
        }
        const stored = await db.kysely.selectFrom(SIGNING_KEYS_TABLE).selectAll().execute();
        expect(stored).toHaveLength(1);
        expect(String(stored[0]?.private_key)).toContain('BEGIN PRIVATE KEY');
      });

      it('rotates with overlap: the old key verifies during the overlap, then leaves the JWKS and fails', async () => {
        const start = now;
        const keys = newKeys(db, { rotateAfterMs: DAY, overlapMs: HOUR, prepublishMs: 5 * MINUTE });
        const refresh = newRefresh();
        const access = newAccess(keys, refresh);
        const { familyId } = await refresh.issue({ id: 'u1', collection: 'users' });
        const issue = () => access.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        const kidOf = (token: string) =>
          (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

        const k1 = kidOf((await issue()).token);
        now = start + DAY - 5 * MINUTE - 1;
        expect(kidOf((await issue()).token)).toBe(k1);
        expect((await keys.jwks()).keys).toHaveLength(1);

        // Due: the next key is created and published, but does not sign yet.
        now = start + DAY - 5 * MINUTE;
        const late = await issue();
        expect(kidOf(late.token)).toBe(k1);
        const published = (await keys.jwks()).keys.map((k) => k.kid);
        expect(published).toHaveLength(2);
        expect(published[1]).toBe(k1);
        const k2 = published[0]!;

        now = start + DAY - MINUTE;
        const lastOfK1 = await issue();
        expect(kidOf(lastOfK1.token)).toBe(k1);
        now = start + DAY;
        const firstOfK2 = await issue();
        expect(kidOf(firstOfK2.token)).toBe(k2);

        // During the overlap both verify and both are published.
        now = start + DAY + 10 * MINUTE;
        expect((await access.verify(lastOfK1.token)).sub).toBe('u1');
        expect((await access.verify(firstOfK2.token)).sub).toBe('u1');
        expect((await keys.jwks()).keys.map((k) => k.kid)).toEqual([k2, k1]);

        // After it: K1 is gone from the JWKS and its tokens fail because of the key itself.
        now = start + DAY + HOUR;
        expect((await keys.jwks()).keys.map((k) => k.kid)).toEqual([k2]);
        expect(await keys.verificationKey(k1)).toBeUndefined();
        expect(await rejection(access.verify(lastOfK1.token))).toBe('kid-unknown');

        // The next rotation deletes the long-retired K1 row (private key included).
        now = start + 2 * DAY;
        await issue();
        const kids = (await db.kysely.selectFrom(SIGNING_KEYS_TABLE).select('kid').execute()).map(
          (r) => r.kid,
        );
        expect(kids).not.toContain(k1);
        expect(kids).toContain(k2);
        expect(kids).toHaveLength(2);
      });

      it('concurrent rotation on several instances over one database yields exactly one new key', async () => {
        const instances = [newKeys(db), newKeys(db2), newKeys(db), newKeys(db2)];
        // First use everywhere at once: one first key.
        const first = await Promise.all(instances.map((k) => k.current()));
        expect(new Set(first.map((k) => k.kid)).size).toBe(1);
        for (let round = 1; round <= 4; round++) {
          now += DAY; // due everywhere (default prepublish: the new key activates 5 min later)
          const during = await Promise.all(instances.map((k) => k.current()));
          expect(new Set(during.map((k) => k.kid)).size).toBe(1);
          const rows = await db.kysely.selectFrom(SIGNING_KEYS_TABLE).select(['generation']).execute();
          const generations = rows.map((r) => Number(r.generation));
          expect(Math.max(...generations)).toBe(round + 1);
          expect(generations.filter((g) => g === round + 1)).toHaveLength(1);
          now += 5 * MINUTE;
          const after = await Promise.all(instances.map((k) => k.current()));
          expect(new Set(after.map((k) => k.kid)).size).toBe(1);
          expect(after[0]!.generation).toBe(round + 1);
        }
        // Forced rotations racing: every instance ends up on the same, newest key.
        await Promise.all(instances.map((k) => k.rotate()));
        await Promise.all(instances.map((k) => k.refresh()));
        const current = await Promise.all(instances.map((k) => k.current()));
        expect(new Set(current.map((k) => k.kid)).size).toBe(1);
      });

      it('another instance verifies tokens from a key created after it loaded (unknown kid → reload, rate-limited)', async () => {
        const refresh = newRefresh();
        const { familyId } = await refresh.issue({ id: 'u1', collection: 'users' });
        const keysA = newKeys(db);
        const keysB = newKeys(db2);
        const nodeA = newAccess(keysA, refresh);
        const nodeB = newAccess(keysB, newRefresh(db2));
        const issue = () => nodeA.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        expect((await nodeB.verify((await issue()).token)).sub).toBe('u1');
        expect((await keysB.jwks()).keys).toHaveLength(1);

        const k2 = await keysA.rotate();
        const second = await issue();
        expect((await nodeB.verify(second.token)).sub).toBe('u1');
        expect((await keysB.jwks()).keys.map((k) => k.kid)).toContain(k2.kid);

        // Within the same second another unknown kid is not looked up again…
        now += 500;
        await keysA.rotate();
        const third = await issue();
        expect(await rejection(nodeB.verify(third.token))).toBe('kid-unknown');
        // …but a second later it is.
        now += 500;
        expect((await nodeB.verify(third.token)).sub).toBe('u1');
      });

      it('another instance picks up a pre-published key by its periodic reload', async () => {
        const keysA = newKeys(db);
        const keysB = newKeys(db2);
        await keysA.current();
        now += DAY;
        expect((await keysB.jwks()).keys).toHaveLength(1);
        await keysA.current(); // due: creates the next key, pre-published
        expect((await keysA.jwks()).keys).toHaveLength(2);
        expect((await keysB.jwks()).keys).toHaveLength(1); // loaded less than a minute ago
        now += MINUTE;
        expect((await keysB.jwks()).keys).toHaveLength(2);
      });

      it('keeps serving the loaded keys when a periodic reload fails', async () => {
        const node = new Database({ url, poolMax: 2 });
        const keys = newKeys(node);
        const key = await keys.current();
        await node.close();
        now += 2 * MINUTE;
        expect((await keys.jwks()).keys.map((k) => k.kid)).toEqual([key.kid]);
        expect(await keys.verificationKey(key.kid)).toBe(key.publicKey);
        expect((await keys.current()).kid).toBe(key.kid);
        // A fresh instance with nothing loaded cannot hide the failure.
        await expect(newKeys(node).jwks()).rejects.toMatchObject({ code: 'DB_ERR_CLOSED' });
      });

      it('rotate({ revokePrevious }) stops the old key at once', async () => {
        const refresh = newRefresh();
        const keys = newKeys();
        const access = newAccess(keys, refresh);
        const { familyId } = await refresh.issue({ id: 'u1', collection: 'users' });
        const { token } = await access.issue({ sub: 'u1', collection: 'users', sessionId: familyId });
        const old = await keys.current();
        const fresh = await keys.rotate({ revokePrevious: true });
        expect(fresh.kid).not.toBe(old.kid);
        expect((await keys.jwks()).keys.map((k) => k.kid)).toEqual([fresh.kid]);
        expect(await rejection(access.verify(token))).toBe('kid-unknown');
        expect(await db.kysely.selectFrom(SIGNING_KEYS_TABLE).select('kid').execute()).toEqual([
          { kid: fresh.kid },
        ]);
      });
    });

    describe('refresh tokens', () => {
      it('rotation spends the token and issues a successor in the same family', async () => {
        const refresh = newRefresh();
        const first = await refresh.issue({ id: 'u1', collection: 'users' });
        expect(first.token).toMatch(/^gwr_[A-Za-z0-9_-]{43}$/);
        expect(first.expiresAtMs).toBe(now + 14 * DAY);
        expect(first.familyExpiresAtMs).toBe(now + 30 * DAY);
        now += MINUTE;
        const second = await refresh.rotate(first.token);
        expect(second).toMatchObject({ familyId: first.familyId, userId: 'u1', collection: 'users' });
        expect(second.token).not.toBe(first.token);
        expect(second.familyExpiresAtMs).toBe(first.familyExpiresAtMs);
        const third = await refresh.rotate(second.token);
        expect(third.familyId).toBe(first.familyId);
        expect(await refresh.isFamilyActive(first.familyId)).toBe(true);
        // Only hashes are stored.
        const rows = await db.kysely.selectFrom(REFRESH_TOKENS_TABLE).selectAll().execute();
        expect(rows).toHaveLength(3);
        expect(JSON.stringify(rows)).not.toContain(first.token.slice(4));
      });

      it('reusing a spent token revokes the family: the newest token and its access tokens fail too', async () => {
        const refresh = newRefresh();
        const access = newAccess(newKeys(), refresh);
        const first = await refresh.issue({ id: 'u1', collection: 'users' });
        const second = await refresh.rotate(first.token);
        const third = await refresh.rotate(second.token);
        const { token } = await access.issue({ sub: 'u1', collection: 'users', sessionId: first.familyId });
        expect((await access.verify(token)).sid).toBe(first.familyId);
        const other = await refresh.issue({ id: 'u1', collection: 'users' });

        expect(await rejection(refresh.rotate(first.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe('reused');
        expect(await refresh.isFamilyActive(first.familyId)).toBe(false);
        expect(await rejection(refresh.rotate(third.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe(
          'revoked',
        );
        expect(await rejection(access.verify(token))).toBe('session-revoked');
        // Another session of the same user is untouched.
        expect(await refresh.isFamilyActive(other.familyId)).toBe(true);
        expect((await refresh.rotate(other.token)).familyId).toBe(other.familyId);
      });

      it('two concurrent rotations of one token: exactly one wins, the other is a reuse', async () => {
        const nodes = [newRefresh(db), newRefresh(db2), newRefresh(db), newRefresh(db2)];
        for (let round = 0; round < 5; round++) {
          const issued = await nodes[0]!.issue({ id: `u${round}`, collection: 'users' });
          const results = await Promise.allSettled(nodes.map((n) => n.rotate(issued.token)));
          const won = results.filter((r) => r.status === 'fulfilled');
          expect(won).toHaveLength(1);
          for (const result of results) {
            if (result.status === 'rejected') {
              expect(result.reason).toBeInstanceOf(GroundworkError);
              expect((result.reason as GroundworkError).code).toBe('AUTH_ERR_INVALID_REFRESH_TOKEN');
              expect(['reused', 'revoked']).toContain(
                ((result.reason as GroundworkError).cause as TokenRejection).reason,
              );
            }
          }
          // The losers saw a second use: the family is revoked, the winner's successor with it.
          const winner = (won[0] as PromiseFulfilledResult<{ token: string }>).value;
          expect(await rejection(nodes[1]!.rotate(winner.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe(
            'revoked',
          );
          expect(await nodes[2]!.isFamilyActive(issued.familyId)).toBe(false);
        }
      });

      it('reuseGraceMs refuses a just-spent token without revoking the family', async () => {
        const refresh = new RefreshTokens(db, { clock, reuseGraceMs: 2_000 });
        const first = await refresh.issue({ id: 'u1', collection: 'users' });
        const second = await refresh.rotate(first.token);
        now += 1_999;
        expect(await rejection(refresh.rotate(first.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe(
          'reused-within-grace',
        );
        expect(await refresh.isFamilyActive(first.familyId)).toBe(true);
        now += 1;
        expect(await rejection(refresh.rotate(first.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe('reused');
        expect(await rejection(refresh.rotate(second.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe(
          'revoked',
        );
      });

      it('expiry on a fake clock: a token after its TTL, a family after its absolute lifetime', async () => {
        const refresh = new RefreshTokens(db, { clock, ttlMs: 10 * DAY, familyLifetimeMs: 30 * DAY });
        const start = now;
        const idle = await refresh.issue({ id: 'u1', collection: 'users' });
        now = start + 10 * DAY;
        expect(await rejection(refresh.rotate(idle.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe('expired');

        now = start;
        let current = await refresh.issue({ id: 'u1', collection: 'users' });
        for (const day of [9, 18, 27]) {
          now = start + day * DAY - 1;
          current = await refresh.rotate(current.token);
        }
        // The last successor is capped at the family's end, not 10 days on.
        expect(current.expiresAtMs).toBe(start + 30 * DAY);
        expect(await refresh.isFamilyActive(current.familyId)).toBe(true);
        now = start + 30 * DAY;
        expect(await rejection(refresh.rotate(current.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe(
          'family-expired',
        );
        expect(await refresh.isFamilyActive(current.familyId)).toBe(false);
        expect(await refresh.deleteExpired()).toBe(5);
      });

      it('unknown, malformed and revoked tokens fail with the one code', async () => {
        const refresh = newRefresh();
        expect(
          await rejection(refresh.rotate(`gwr_${'A'.repeat(43)}`), 'AUTH_ERR_INVALID_REFRESH_TOKEN'),
        ).toBe('unknown');
        for (const value of ['', 'gwr_x', 'Bearer x', null, 42]) {
          expect(await rejection(refresh.rotate(value), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe('malformed');
        }
        const issued = await refresh.issue({ id: 'u1', collection: 'users' });
        expect(await refresh.revokeFamily(issued.familyId)).toBe(true);
        expect(await refresh.revokeFamily(issued.familyId)).toBe(false);
        expect(await rejection(refresh.rotate(issued.token), 'AUTH_ERR_INVALID_REFRESH_TOKEN')).toBe(
          'revoked',
        );
        expect(await refresh.isFamilyActive('no-such-family')).toBe(false);
      });
    });
  });
}
