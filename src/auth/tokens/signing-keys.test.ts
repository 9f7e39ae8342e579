import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  isLive,
  jwkThumbprint,
  type KeyTimes,
  newestKeyOf,
  rotationDue,
  SigningKey,
  signingKeyOf,
} from './signing-keys.js';

const HOUR = 3_600_000;
const key = (generation: number, activatesAtMs: number, retiresAtMs: number | null = null): KeyTimes => ({
  generation,
  activatesAtMs,
  retiresAtMs,
});

describe('key schedule', () => {
  it('a key is live until its retirement time, exclusive', () => {
    expect(isLive(key(1, 0), 10 ** 12)).toBe(true);
    expect(isLive(key(1, 0, 100), 99)).toBe(true);
    expect(isLive(key(1, 0, 100), 100)).toBe(false);
  });

  it('the signing key is the highest live generation already active', () => {
    const keys = [key(1, 0, 30 * HOUR), key(2, 24 * HOUR), key(3, 48 * HOUR)];
    expect(signingKeyOf(keys, HOUR)?.generation).toBe(1);
    expect(signingKeyOf(keys, 24 * HOUR - 1)?.generation).toBe(1);
    expect(signingKeyOf(keys, 24 * HOUR)?.generation).toBe(2);
    expect(signingKeyOf(keys, 50 * HOUR)?.generation).toBe(3);
    // Generation order wins over array order.
    expect(signingKeyOf([...keys].reverse(), 50 * HOUR)?.generation).toBe(3);
    expect(signingKeyOf([key(1, 0, 5)], 5)).toBeUndefined();
    expect(signingKeyOf([key(1, 10)], 5)).toBeUndefined();
  });

  it('the newest key counts pre-published keys, not retired ones', () => {
    expect(newestKeyOf([key(1, 0), key(2, 100)], 50)?.generation).toBe(2);
    expect(newestKeyOf([key(1, 0, 10), key(2, 100, 20)], 30)).toBeUndefined();
    expect(newestKeyOf([], 0)).toBeUndefined();
  });

  it('rotation is due with no key, or prepublishMs before the newest key has signed rotateAfterMs', () => {
    const schedule = { rotateAfterMs: 24 * HOUR, prepublishMs: HOUR };
    expect(rotationDue([], 0, schedule)).toBe(true);
    expect(rotationDue([key(1, 0)], 23 * HOUR - 1, schedule)).toBe(false);
    expect(rotationDue([key(1, 0)], 23 * HOUR, schedule)).toBe(true);
    // Once the next key is pre-published, nothing more is due until it has aged in turn.
    expect(rotationDue([key(1, 0, 49 * HOUR), key(2, 24 * HOUR)], 23 * HOUR, schedule)).toBe(false);
    expect(rotationDue([key(1, 0, 49 * HOUR), key(2, 24 * HOUR)], 47 * HOUR, schedule)).toBe(true);
  });
});

describe('jwkThumbprint', () => {
  it('matches RFC 8037 appendix A.3', () => {
    expect(
      jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }),
    ).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });
});

describe('SigningKey', () => {
  const pair = generateKeyPairSync('ed25519');
  const jwk = pair.publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; d?: string };
  const privateJwk = pair.privateKey.export({ format: 'jwk' }) as { d: string };
  const signing = new SigningKey({
    kid: jwkThumbprint(jwk),
    generation: 1,
    activatesAtMs: 0,
    retiresAtMs: null,
    x: jwk.x,
    privateKey: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  });

  it('publishes a public JWK with kid, alg and use', () => {
    expect(signing.publicJwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: jwk.x,
      kid: jwkThumbprint(jwk),
      alg: 'EdDSA',
      use: 'sig',
    });
    expect(signing.publicJwk).not.toHaveProperty('d');
  });

  it('the private key works but never shows in JSON or inspect output', () => {
    expect(signing.privateKey.asymmetricKeyType).toBe('ed25519');
    expect(signing.privateKey.type).toBe('private');
    for (const text of [JSON.stringify(signing), inspect(signing, { showHidden: true, depth: 5 })]) {
      expect(text).toContain(signing.kid);
      expect(text).not.toContain('PRIVATE KEY');
      expect(text).not.toContain(privateJwk.d);
    }
  });
});
