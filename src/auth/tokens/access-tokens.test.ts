import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { errors as jose } from 'jose';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import {
  type AccessTokenKeys,
  AccessTokens,
  type AccessTokensOptions,
  MAX_ACCESS_TOKEN_LENGTH,
  TokenRejection,
  toRejection,
} from './access-tokens.js';
import { jwkThumbprint, SigningKey } from './signing-keys.js';

/** In-memory keys: the unit under test is the token logic, not key storage. */
function memoryKeys(overlapMs = 3_600_000): AccessTokenKeys & { key: SigningKey } {
  const pair = generateKeyPairSync('ed25519');
  const jwk = pair.publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string };
  const key = new SigningKey({
    kid: jwkThumbprint(jwk),
    generation: 1,
    activatesAtMs: 0,
    retiresAtMs: null,
    x: jwk.x,
    privateKey: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  });
  return {
    key,
    overlapMs,
    current: async () => key,
    verificationKey: async (kid) => (kid === key.kid ? key.publicKey : undefined),
  };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = Date.UTC(2030, 0, 1);
const base: AccessTokensOptions = {
  issuer: 'https://gw.test',
  audience: 'gw-api',
  sessions: { isFamilyActive: async () => true },
  clock: () => now,
};

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    return (error as GroundworkError).code;
  }
  throw new Error('expected a rejection');
}

function configCode(make: () => unknown): string | undefined {
  try {
    make();
    return undefined;
  } catch (error) {
    return error instanceof GroundworkError ? error.code : 'not a GroundworkError';
  }
}

describe('AccessTokens options', () => {
  it('refuses an overlap shorter than TTL + tolerance, a bad TTL and missing issuer/audience', () => {
    const keys = memoryKeys(15 * 60_000 + 30_000);
    expect(configCode(() => new AccessTokens(keys, base))).toBeUndefined();
    expect(configCode(() => new AccessTokens(memoryKeys(15 * 60_000 + 29_999), base))).toBe(
      'AUTH_ERR_TOKEN_CONFIG',
    );
    expect(configCode(() => new AccessTokens(keys, { ...base, ttlMs: 1_500 }))).toBe('AUTH_ERR_TOKEN_CONFIG');
    expect(configCode(() => new AccessTokens(keys, { ...base, ttlMs: 0 }))).toBe('AUTH_ERR_TOKEN_CONFIG');
    expect(configCode(() => new AccessTokens(keys, { ...base, clockToleranceMs: -1 }))).toBe(
      'AUTH_ERR_TOKEN_CONFIG',
    );
    expect(configCode(() => new AccessTokens(keys, { ...base, issuer: '' }))).toBe('AUTH_ERR_TOKEN_CONFIG');
    expect(configCode(() => new AccessTokens(keys, { ...base, audience: '' }))).toBe('AUTH_ERR_TOKEN_CONFIG');
  });
});

describe('AccessTokens issue and verify', () => {
  const keys = memoryKeys();
  const tokens = new AccessTokens(keys, base);

  it('issues an at+jwt with kid and the documented claims, and verifies it', async () => {
    const { token, expiresAtMs, jti } = await tokens.issue({
      sub: 'u1',
      collection: 'users',
      sessionId: 'fam1',
      scopes: ['posts:read', 'posts:write'],
    });
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: keys.key.kid });
    const iat = Math.floor(now / 1000);
    expect(payload).toEqual({
      iss: 'https://gw.test',
      aud: 'gw-api',
      sub: 'u1',
      iat,
      exp: iat + 900,
      jti,
      col: 'users',
      sid: 'fam1',
      scope: 'posts:read posts:write',
    });
    expect(expiresAtMs).toBe((iat + 900) * 1000);
    expect(await tokens.verify(token)).toEqual(payload);
  });

  it('refuses to issue with an empty subject or a scope that is not an RFC 6749 scope-token', async () => {
    await expect(tokens.issue({ sub: '', collection: 'users', sessionId: 'f' })).rejects.toThrow(TypeError);
    await expect(
      tokens.issue({ sub: 'u', collection: 'users', sessionId: 'f', scopes: ['a b'] }),
    ).rejects.toThrow(TypeError);
    await expect(
      tokens.issue({
        sub: 'u',
        collection: 'users',
        sessionId: 'f',
        scopes: ['x'.repeat(MAX_ACCESS_TOKEN_LENGTH)],
      }),
    ).rejects.toThrow(/above 4096/);
  });

  it('a session lookup failing with a database error keeps its own code (the token may be fine)', async () => {
    const failing = new AccessTokens(keys, {
      ...base,
      sessions: {
        isFamilyActive: async () => {
          throw new GroundworkError('DB_ERR_CONNECTION');
        },
      },
    });
    const { token } = await failing.issue({ sub: 'u1', collection: 'users', sessionId: 'fam1' });
    expect(await codeOf(failing.verify(token))).toBe('DB_ERR_CONNECTION');
  });

  it('a revoked session makes a valid token invalid', async () => {
    const revoked = new AccessTokens(keys, { ...base, sessions: { isFamilyActive: async () => false } });
    const { token } = await revoked.issue({ sub: 'u1', collection: 'users', sessionId: 'fam1' });
    const error = await revoked.verify(token).catch((e: unknown) => e);
    expect((error as GroundworkError).code).toBe('AUTH_ERR_INVALID_TOKEN');
    expect(((error as GroundworkError).cause as TokenRejection).reason).toBe('session-revoked');
  });
});

describe('toRejection', () => {
  it('maps jose errors onto reasons and keeps our own', () => {
    const payload = {};
    expect(toRejection(new jose.JWTExpired('x', payload, 'exp')).reason).toBe('expired');
    expect(toRejection(new jose.JWTClaimValidationFailed('x', payload, 'iss', 'check_failed')).reason).toBe(
      'issuer',
    );
    expect(toRejection(new jose.JWTClaimValidationFailed('x', payload, 'aud', 'check_failed')).reason).toBe(
      'audience',
    );
    expect(toRejection(new jose.JWTClaimValidationFailed('x', payload, 'nbf', 'check_failed')).reason).toBe(
      'not-yet-valid',
    );
    expect(toRejection(new jose.JWTClaimValidationFailed('x', payload, 'iat', 'check_failed')).reason).toBe(
      'issued-in-future',
    );
    expect(toRejection(new jose.JWTClaimValidationFailed('x', payload, 'iat', 'invalid')).reason).toBe(
      'claims',
    );
    expect(toRejection(new jose.JWTClaimValidationFailed('x', payload, 'typ', 'check_failed')).reason).toBe(
      'type',
    );
    expect(toRejection(new jose.JWTClaimValidationFailed('x', payload, 'jti', 'missing')).reason).toBe(
      'claims',
    );
    expect(toRejection(new jose.JOSEAlgNotAllowed('x')).reason).toBe('algorithm');
    expect(toRejection(new jose.JWSSignatureVerificationFailed()).reason).toBe('signature');
    expect(toRejection(new jose.JWSInvalid('x')).reason).toBe('malformed');
    expect(toRejection(new SyntaxError('x')).reason).toBe('malformed');
    const own = new TokenRejection('kid-unknown');
    expect(toRejection(own)).toBe(own);
  });
});

describe('verify never throws anything but AUTH_ERR_INVALID_TOKEN (property)', () => {
  const keys = memoryKeys();
  const tokens = new AccessTokens(keys, base);
  const segment = fc.oneof(
    fc.base64String().map((s) => s.replaceAll('+', '-').replaceAll('/', '_').replaceAll('=', '')),
    fc.jsonValue().map(b64),
    fc.string().map((s) => Buffer.from(s).toString('base64url')),
  );
  const header = fc.record(
    {
      alg: fc.oneof(fc.constantFrom('EdDSA', 'none', 'HS256', 'RS256', 'ES256', 'Ed25519'), fc.jsonValue()),
      typ: fc.oneof(fc.constantFrom('at+jwt', 'JWT', 'application/at+jwt'), fc.jsonValue()),
      kid: fc.oneof(fc.constant(keys.key.kid), fc.string(), fc.jsonValue()),
      crit: fc.array(fc.string()),
      b64: fc.boolean(),
    },
    { requiredKeys: [] },
  );
  const claims = fc.record(
    {
      iss: fc.oneof(fc.constant('https://gw.test'), fc.jsonValue()),
      aud: fc.oneof(fc.constant('gw-api'), fc.jsonValue()),
      sub: fc.jsonValue(),
      iat: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
      exp: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
      nbf: fc.jsonValue(),
      jti: fc.jsonValue(),
      sid: fc.jsonValue(),
      col: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  /** Validly signed with the real key: claims and header checks must still hold. */
  const signed = fc.tuple(header, claims).map(([h, c]) => {
    const input = `${b64(h)}.${b64(c)}`;
    return `${input}.${sign(null, Buffer.from(input), keys.key.privateKey).toString('base64url')}`;
  });
  const token = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
    fc.tuple(header.map(b64), claims.map(b64), segment).map((parts) => parts.join('.')),
    signed,
    fc.anything(),
  );

  it('for arbitrary strings, JWT-shaped strings and signed tokens with arbitrary claims', async () => {
    await fc.assert(
      fc.asyncProperty(token, async (value) => {
        try {
          await tokens.verify(value);
        } catch (error) {
          expect(error).toBeInstanceOf(GroundworkError);
          expect((error as GroundworkError).code).toBe('AUTH_ERR_INVALID_TOKEN');
          expect((error as GroundworkError).status).toBe(401);
          expect((error as GroundworkError).cause).toBeInstanceOf(TokenRejection);
          return;
        }
        // Only a token carrying every claim right can pass: the generator rarely builds one.
        throw new Error(`accepted ${String(value)}`);
      }),
      { numRuns: 1_000 },
    );
  });
});
