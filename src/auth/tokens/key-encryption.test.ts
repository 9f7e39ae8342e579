import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { KeyEncryption, parseKeyEncryptionKey } from './key-encryption.js';

const PEM =
  '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOPt6Z2R9VYk0x0F1m6l3w0mV0iN3I3s1cW6GmXyQk6H\n-----END PRIVATE KEY-----\n';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    expect((error as GroundworkError).code).toBe('AUTH_ERR_TOKEN_CONFIG');
    return (error as GroundworkError).detail ?? '';
  }
  throw new Error('expected AUTH_ERR_TOKEN_CONFIG');
}

describe('parseKeyEncryptionKey', () => {
  it('reads any 32 bytes as base64, base64url or hex, and nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const key = Buffer.from(bytes);
        for (const text of [key.toString('base64'), key.toString('base64url'), key.toString('hex')]) {
          expect(parseKeyEncryptionKey(text)?.equals(key)).toBe(true);
        }
      }),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }).filter((b) => b.length !== 32),
        (bytes) => {
          const key = Buffer.from(bytes);
          expect(parseKeyEncryptionKey(key.toString('base64'))).toBeUndefined();
          if (key.length !== 32) expect(parseKeyEncryptionKey(key.toString('hex'))).toBeUndefined();
        },
      ),
    );
    expect(parseKeyEncryptionKey('not a key')).toBeUndefined();
  });
});

describe('KeyEncryption', () => {
  const current = randomBytes(32);
  const previous = randomBytes(32);

  it('stores in clear without a key, and wraps (never containing the PEM) with one', () => {
    expect(new KeyEncryption().wrap(PEM, 'kid1')).toBe(PEM);
    const wrapped = new KeyEncryption(current).wrap(PEM, 'kid1');
    expect(wrapped).toMatch(/^gwkek1\.[0-9a-f]{16}\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(wrapped).not.toContain('PRIVATE KEY');
    expect(new KeyEncryption(current).unwrap(wrapped, 'kid1')).toBe(PEM);
    // A fresh IV per wrap.
    expect(new KeyEncryption(current).wrap(PEM, 'kid1')).not.toBe(wrapped);
  });

  it('refuses a ciphertext moved to another key id, or altered anywhere', () => {
    const encryption = new KeyEncryption(current);
    const wrapped = encryption.wrap(PEM, 'kid1');
    expect(configError(() => encryption.unwrap(wrapped, 'kid2'))).toMatch(/does not decrypt/);
    const parts = wrapped.split('.');
    for (const i of [2, 3, 4]) {
      const altered = [...parts];
      const bytes = Buffer.from(altered[i]!, 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      altered[i] = bytes.toString('base64url');
      expect(configError(() => encryption.unwrap(altered.join('.'), 'kid1'))).toMatch(/does not decrypt/);
    }
    expect(configError(() => encryption.unwrap('gwkek1.x.y', 'kid1'))).toMatch(/format/);
  });

  it('says which setting is missing when no configured key opens a stored key', () => {
    const wrapped = new KeyEncryption(previous).wrap(PEM, 'kid1');
    expect(configError(() => new KeyEncryption().unwrap(wrapped, 'kid1'))).toMatch(
      /GROUNDWORK_AUTH_KEY_ENCRYPTION_KEY/,
    );
    expect(configError(() => new KeyEncryption(current).unwrap(wrapped, 'kid1'))).toMatch(
      /previousKeyEncryptionKey/,
    );
    expect(new KeyEncryption(current, previous).unwrap(wrapped, 'kid1')).toBe(PEM);
  });

  it('asks for a rewrap of rows in clear or under the previous key only', () => {
    const both = new KeyEncryption(current, previous);
    expect(both.needsRewrap(PEM)).toBe(true);
    expect(both.needsRewrap(new KeyEncryption(previous).wrap(PEM, 'k'))).toBe(true);
    expect(both.needsRewrap(both.wrap(PEM, 'k'))).toBe(false);
    expect(new KeyEncryption().needsRewrap(PEM)).toBe(false);
  });

  it('rejects keys of the wrong size and unparseable config text', () => {
    expect(configError(() => new KeyEncryption(randomBytes(16)))).toMatch(/32 bytes/);
    expect(configError(() => KeyEncryption.fromConfig('short', undefined))).toMatch(/keyEncryptionKey/);
    expect(
      KeyEncryption.fromConfig(current.toString('base64'), previous.toString('hex')).wrap(PEM, 'k'),
    ).toMatch(/^gwkek1\./);
  });
});
