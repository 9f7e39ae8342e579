/**
 * Envelope encryption of the signing keys' private halves at rest: with `auth.keyEncryptionKey`
 * set, a private key is stored as `gwkek1.<key id>.<iv>.<ciphertext>.<tag>` (AES-256-GCM, base64url
 * parts, the key's `kid` as additional data so a ciphertext cannot be moved to another row), and a
 * copy of the database alone no longer lets anyone mint tokens. Without it, private keys are PKCS#8
 * PEM as before.
 *
 * The key id is the first 8 bytes of HMAC-SHA-256(key, "groundwork key-encryption key id"): it
 * tells which configured key wrapped a row (or that none did) without revealing the key. Changing
 * keys: set the new one as `keyEncryptionKey` and the old one as `previousKeyEncryptionKey`; every
 * node rewraps the rows it loads under the new key (`needsRewrap`), after which the old one can go.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { GroundworkError } from '../../core/errors.js';

const PREFIX = 'gwkek1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * A key-encryption key from its text form: 32 bytes as base64 / base64url (43–44 characters, e.g.
 * `openssl rand -base64 32`) or as 64 hex digits. Undefined when the text is none of those.
 */
export function parseKeyEncryptionKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed.replaceAll('+', '-').replaceAll('/', '_').replace(/=$/, ''), 'base64url');
  return bytes.length === KEY_BYTES ? bytes : undefined;
}

function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key)
    .update('groundwork key-encryption key id')
    .digest()
    .subarray(0, 8)
    .toString('hex');
}

function configError(detail: string): GroundworkError {
  return new GroundworkError('AUTH_ERR_TOKEN_CONFIG', { detail: `Signing keys: ${detail}` });
}

interface Kek {
  readonly id: string;
  readonly key: Buffer;
}

export class KeyEncryption {
  readonly #current: Kek | undefined;
  readonly #previous: Kek | undefined;

  /**
   * @param current the key new private keys are wrapped with; undefined stores them in clear
   * @param previous a key that only unwraps (while rows move to `current`)
   */
  constructor(current?: Buffer, previous?: Buffer) {
    for (const key of [current, previous]) {
      if (key !== undefined && key.length !== KEY_BYTES)
        throw configError(`a key-encryption key must be ${KEY_BYTES} bytes.`);
    }
    this.#current = current && { id: keyIdOf(current), key: current };
    this.#previous = previous && { id: keyIdOf(previous), key: previous };
  }

  /** From the config's text forms (already validated by the config schema). */
  static fromConfig(current: string | undefined, previous: string | undefined): KeyEncryption {
    const parse = (text: string | undefined, name: string): Buffer | undefined => {
      if (text === undefined) return undefined;
      const key = parseKeyEncryptionKey(text);
      if (key === undefined) throw configError(`auth.${name} must be 32 bytes as base64 or 64 hex digits.`);
      return key;
    };
    return new KeyEncryption(parse(current, 'keyEncryptionKey'), parse(previous, 'previousKeyEncryptionKey'));
  }

  /** How a new private key (PEM) is stored: wrapped under the current key, or as it is without one. */
  wrap(pem: string, kid: string): string {
    const kek = this.#current;
    if (kek === undefined) return pem;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', kek.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(kid));
    const ciphertext = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
    return [
      PREFIX,
      kek.id,
      iv.toString('base64url'),
      ciphertext.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  /** The PEM of a stored private key; throws `AUTH_ERR_TOKEN_CONFIG` when no configured key opens it. */
  unwrap(stored: string, kid: string): string {
    if (!stored.startsWith(`${PREFIX}.`)) return stored;
    const [, id, iv, ciphertext, tag, ...rest] = stored.split('.');
    if (
      id === undefined ||
      iv === undefined ||
      ciphertext === undefined ||
      tag === undefined ||
      rest.length > 0
    ) {
      throw configError(`the stored private key of ${kid} is not in the ${PREFIX} format.`);
    }
    const kek = [this.#current, this.#previous].find((k) => k?.id === id);
    if (kek === undefined) {
      throw configError(
        this.#current === undefined
          ? `the private key of ${kid} is encrypted (key id ${id}); set auth.keyEncryptionKey (GROUNDWORK_AUTH_KEY_ENCRYPTION_KEY) to the key that encrypted it.`
          : `the private key of ${kid} was encrypted with another key-encryption key (key id ${id}); set that key as auth.previousKeyEncryptionKey.`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek.key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(kid));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch (error) {
      throw new GroundworkError('AUTH_ERR_TOKEN_CONFIG', {
        detail: `Signing keys: the private key of ${kid} does not decrypt (altered, or moved from another row).`,
        cause: error,
      });
    }
  }

  /** True when a stored key should be stored again under the current key (clear, or under the previous key). */
  needsRewrap(stored: string): boolean {
    const kek = this.#current;
    if (kek === undefined) return false;
    return !stored.startsWith(`${PREFIX}.${kek.id}.`);
  }
}
