import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { inspect } from 'node:util';
import type { Kysely } from 'kysely';
import { GroundworkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AnyDb, Database } from '../../db/database.js';
import { KeyEncryption } from './key-encryption.js';

/**
 * The keys that sign access tokens: Ed25519 pairs (JWS `alg: EdDSA`, RFC 8037) kept in
 * `_gw_auth_signing_keys`, shared by every node of a cluster through the database.
 *
 * Schedule. Keys are numbered by `generation`. The signing key is the highest generation whose
 * `activates_at` has passed. When it has signed for `rotateAfterMs − prepublishMs`, the next node
 * that signs creates generation n+1, activating `prepublishMs` later: meanwhile the new public key
 * is in the JWKS and reaches other nodes by their periodic reload, so no verifier meets a token
 * from a key it has never seen. Creating n+1 sets n's `retires_at` to n+1's activation plus
 * `overlapMs`: n keeps verifying (and stays in the JWKS) while the tokens it signed can still be
 * live, then drops out; its row is deleted one more `overlapMs` later.
 *
 * Several nodes. `generation` is unique and the insert is `ON CONFLICT (generation) DO NOTHING`
 * in a transaction, so when nodes rotate at once exactly one key n+1 exists (SQLite and
 * PostgreSQL alike); the others reload and use it. A node reloads the key set every
 * `refreshIntervalMs` (lazily, on use) and when a token names a kid it does not know (at most once
 * per `unknownKidRefreshMs`, so random kids cannot turn into a query per request).
 *
 * Private keys are PKCS#8 PEM in the database, wrapped with AES-256-GCM when a key-encryption key
 * is configured (`key-encryption.ts`); they never appear in `toJSON` or `util.inspect` output of
 * anything exported here.
 */
export const SIGNING_KEYS_TABLE = '_gw_auth_signing_keys';
export const SIGNING_ALG = 'EdDSA';

/** RFC 7638 thumbprints (SHA-256, base64url): what `kid`s look like. */
const KID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A public key as published in the JWKS (RFC 7517 §4, RFC 8037 §2). */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: typeof SIGNING_ALG;
  readonly use: 'sig';
}

/** RFC 7517 §5 JSON Web Key Set: public keys only. */
export interface JsonWebKeySet {
  keys: PublicJwk[];
}

/** What the schedule needs to know of a key. Times are epoch milliseconds. */
export interface KeyTimes {
  readonly generation: number;
  readonly activatesAtMs: number;
  /** When it stops verifying; null while it is the newest key. */
  readonly retiresAtMs: number | null;
}

export interface KeySchedule {
  rotateAfterMs: number;
  prepublishMs: number;
}

/** A key still verifies (and is published) until its retirement time. */
export function isLive(key: KeyTimes, nowMs: number): boolean {
  return key.retiresAtMs === null || key.retiresAtMs > nowMs;
}

/** The signing key at `nowMs`: the highest live generation already active. */
export function signingKeyOf<K extends KeyTimes>(keys: readonly K[], nowMs: number): K | undefined {
  let best: K | undefined;
  for (const key of keys) {
    if (!isLive(key, nowMs) || key.activatesAtMs > nowMs) continue;
    if (!best || key.generation > best.generation) best = key;
  }
  return best;
}

/** The newest live key, active or still pre-published. */
export function newestKeyOf<K extends KeyTimes>(keys: readonly K[], nowMs: number): K | undefined {
  let best: K | undefined;
  for (const key of keys) if (isLive(key, nowMs) && (!best || key.generation > best.generation)) best = key;
  return best;
}

/** Whether the next key should be created now: there is none, or the newest is old enough. */
export function rotationDue(keys: readonly KeyTimes[], nowMs: number, schedule: KeySchedule): boolean {
  const newest = newestKeyOf(keys, nowMs);
  return !newest || newest.activatesAtMs + schedule.rotateAfterMs - schedule.prepublishMs <= nowMs;
}

/** RFC 7638 JWK thumbprint of an Ed25519 public key: required members, lexicographic order. */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string }): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** One key pair. The private half is parsed on first use and is never serialised or inspected. */
export class SigningKey implements KeyTimes {
  readonly kid: string;
  readonly alg = SIGNING_ALG;
  readonly generation: number;
  readonly activatesAtMs: number;
  readonly retiresAtMs: number | null;
  readonly publicJwk: PublicJwk;
  readonly publicKey: KeyObject;
  readonly #storedPrivateKey: string;
  readonly #unwrap: (stored: string, kid: string) => string;
  #privateKey: KeyObject | undefined;

  constructor(row: {
    kid: string;
    generation: number;
    activatesAtMs: number;
    retiresAtMs: number | null;
    x: string;
    /** PKCS#8 PEM, or wrapped (see `KeyEncryption`). */
    privateKey: string;
    /** Turns `privateKey` into PEM; default: it is PEM. */
    unwrap?: (stored: string, kid: string) => string;
  }) {
    this.kid = row.kid;
    this.generation = row.generation;
    this.activatesAtMs = row.activatesAtMs;
    this.retiresAtMs = row.retiresAtMs;
    this.publicJwk = Object.freeze({
      kty: 'OKP',
      crv: 'Ed25519',
      x: row.x,
      kid: row.kid,
      alg: SIGNING_ALG,
      use: 'sig',
    });
    this.publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: row.x }, format: 'jwk' });
    this.#storedPrivateKey = row.privateKey;
    this.#unwrap = row.unwrap ?? ((stored) => stored);
  }

  /** The private key, unwrapped and parsed on first use; throws `AUTH_ERR_TOKEN_CONFIG` if it cannot be. */
  get privateKey(): KeyObject {
    this.#privateKey ??= createPrivateKey(this.#unwrap(this.#storedPrivateKey, this.kid));
    return this.#privateKey;
  }

  toJSON(): Record<string, unknown> {
    return {
      kid: this.kid,
      alg: this.alg,
      generation: this.generation,
      activatesAtMs: this.activatesAtMs,
      retiresAtMs: this.retiresAtMs,
    };
  }

  [inspect.custom](): string {
    return `SigningKey ${JSON.stringify(this.toJSON())}`;
  }
}

export interface SigningKeysOptions {
  /** How long a key is the signing key before the next one takes over, in ms. Default 24 h. */
  rotateAfterMs?: number;
  /**
   * How long a replaced key keeps verifying (and stays in the JWKS) after its successor
   * activates, in ms. Must cover the access-token TTL plus clock tolerance (`AccessTokens`
   * refuses to start otherwise). Default 1 h.
   */
  overlapMs?: number;
  /**
   * How long a scheduled key is published before it signs, in ms: keep it above
   * `refreshIntervalMs` and the JWKS cache lifetime you serve. 0 = sign at once. Forced
   * `rotate()` never waits. Default 5 min.
   */
  prepublishMs?: number;
  /** Reload the key set from the database when it is older than this on use, in ms. Default 60 s. */
  refreshIntervalMs?: number;
  /** At most one reload per this many ms because of a token with an unknown kid. Default 1 s. */
  unknownKidRefreshMs?: number;
  /** Wraps new private keys and unwraps stored ones. Default: stored in clear. */
  encryption?: KeyEncryption;
  /** Epoch milliseconds. Default `Date.now`. */
  clock?: () => number;
  logger?: Logger;
}

/**
 * The cluster's signing keys, loaded from and rotated in the database.
 *
 * @example
 *   const keys = new SigningKeys(database, { rotateAfterMs: 86_400_000 });
 *   const key = await keys.current(); // creates the first key on first use
 *   reply.send(await keys.jwks());    // GET /.well-known/jwks.json
 */
export class SigningKeys {
  readonly rotateAfterMs: number;
  readonly overlapMs: number;
  readonly prepublishMs: number;
  readonly refreshIntervalMs: number;
  readonly unknownKidRefreshMs: number;
  readonly #database: Database;
  readonly #db: Kysely<AnyDb>;
  readonly #clock: () => number;
  readonly #logger: Logger | undefined;
  readonly #encryption: KeyEncryption;
  #keys: SigningKey[] = [];
  #loadedAtMs = Number.NEGATIVE_INFINITY;
  #unknownKidReloadAtMs = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | undefined;
  /** Loads may overlap (a forced reload during a periodic one): only a newer one's result is kept. */
  #loadsStarted = 0;
  #loadApplied = 0;

  constructor(database: Database, options: SigningKeysOptions = {}) {
    this.#database = database;
    this.#db = database.kysely as Kysely<AnyDb>;
    this.rotateAfterMs = options.rotateAfterMs ?? 24 * 3_600_000;
    this.overlapMs = options.overlapMs ?? 3_600_000;
    this.prepublishMs = options.prepublishMs ?? 300_000;
    this.refreshIntervalMs = options.refreshIntervalMs ?? 60_000;
    this.unknownKidRefreshMs = options.unknownKidRefreshMs ?? 1_000;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger;
    this.#encryption = options.encryption ?? new KeyEncryption();
    const positive = { rotateAfterMs: this.rotateAfterMs, refreshIntervalMs: this.refreshIntervalMs };
    for (const [name, value] of Object.entries(positive)) {
      if (!Number.isSafeInteger(value) || value <= 0) throw configError(`${name} must be an integer ≥ 1`);
    }
    const nonNegative = {
      overlapMs: this.overlapMs,
      prepublishMs: this.prepublishMs,
      unknownKidRefreshMs: this.unknownKidRefreshMs,
    };
    for (const [name, value] of Object.entries(nonNegative)) {
      if (!Number.isSafeInteger(value) || value < 0) throw configError(`${name} must be an integer ≥ 0`);
    }
    if (this.prepublishMs >= this.rotateAfterMs)
      throw configError('prepublishMs must be below rotateAfterMs');
  }

  /** The key to sign with now; creates the first key, or the next one when rotation is due. */
  async current(): Promise<SigningKey> {
    await this.#ensureFresh();
    // Bounded: each pass either finds nothing due or creates/loads a newer key.
    for (let attempt = 0; attempt < 3; attempt++) {
      const nowMs = this.#clock();
      if (!rotationDue(this.#keys, nowMs, this)) break;
      // The generation comes from the loaded set, not a fresh MAX(): nodes acting on the same view
      // then contend for the same number, and the unique index lets exactly one of them win.
      const newest = newestKeyOf(this.#keys, nowMs);
      if (newest) await this.#createKey(newest.generation + 1, nowMs + this.prepublishMs, false);
      // No live key: the first one, or (rows that are all retired, a second pass) the next number.
      else await this.#createKey(attempt === 0 ? 1 : (await this.#maxGeneration()) + 1, nowMs, false);
    }
    const nowMs = this.#clock();
    const key = signingKeyOf(this.#keys, nowMs) ?? newestKeyOf(this.#keys, nowMs);
    if (!key) throw new Error('no signing key after creating one'); // unreachable: the loop creates one
    return key;
  }

  /**
   * The public key for `kid`, while it is live; reloads once (rate-limited) when the kid is
   * unknown, since another node may have just created it.
   */
  async verificationKey(kid: string): Promise<KeyObject | undefined> {
    if (!KID_PATTERN.test(kid)) return undefined;
    await this.#ensureFresh();
    const known = this.#keys.find((k) => k.kid === kid);
    if (known) return isLive(known, this.#clock()) ? known.publicKey : undefined;
    const nowMs = this.#clock();
    if (nowMs - this.#unknownKidReloadAtMs < this.unknownKidRefreshMs) return undefined;
    this.#unknownKidReloadAtMs = nowMs;
    await this.#reload();
    const loaded = this.#keys.find((k) => k.kid === kid);
    return loaded && isLive(loaded, this.#clock()) ? loaded.publicKey : undefined;
  }

  /** RFC 7517 JWK Set of every live public key (signing, pre-published and overlapping), newest first. */
  async jwks(): Promise<JsonWebKeySet> {
    await this.#ensureFresh();
    const nowMs = this.#clock();
    return { keys: this.#keys.filter((k) => isLive(k, nowMs)).map((k) => ({ ...k.publicJwk })) };
  }

  /**
   * Forced rotation (admin action, tests): a new key signs from now on. The previous keys overlap
   * as usual, or with `revokePrevious` (a key leaked) are deleted at once: their tokens stop
   * verifying here now and on other nodes at their next reload (within `refreshIntervalMs`).
   * When another node rotates at the same moment, its key wins and is returned.
   */
  async rotate(options: { revokePrevious?: boolean } = {}): Promise<SigningKey> {
    const revoke = options.revokePrevious ?? false;
    // A revocation must happen even when another node's key won the race: then try again on top.
    for (let attempt = 0; attempt < 3; attempt++) {
      const created = await this.#createKey((await this.#maxGeneration()) + 1, this.#clock(), revoke);
      if (created || !revoke) break;
    }
    const key = signingKeyOf(this.#keys, this.#clock()) ?? newestKeyOf(this.#keys, this.#clock());
    if (!key) throw new Error('no signing key after rotation');
    return key;
  }

  /** Reloads the key set from the database now. */
  async refresh(): Promise<void> {
    await this.#load();
  }

  toJSON(): Record<string, unknown> {
    return { kids: this.#keys.map((k) => k.kid) };
  }

  [inspect.custom](): string {
    return `SigningKeys ${JSON.stringify(this.toJSON())}`;
  }

  async #ensureFresh(): Promise<void> {
    const nowMs = this.#clock();
    if (nowMs - this.#loadedAtMs < this.refreshIntervalMs) return;
    try {
      await this.#reload();
    } catch (error) {
      // Verifying must not stop because one reload failed: keep the keys we have (they carry their
      // own retirement times) and try again after another interval.
      if (this.#loadedAtMs === Number.NEGATIVE_INFINITY) throw error;
      this.#loadedAtMs = nowMs;
      this.#logger?.warn({ err: error }, 'signing keys: reload failed, keeping the loaded keys');
    }
  }

  /** A reload shared by concurrent callers that only need the keys to be recent. */
  #reload(): Promise<void> {
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(): Promise<void> {
    const seq = ++this.#loadsStarted;
    const nowMs = this.#clock();
    const rows = await this.#db
      .selectFrom(SIGNING_KEYS_TABLE)
      .selectAll()
      .where((eb) => eb.or([eb('retires_at', 'is', null), eb('retires_at', '>', nowMs)]))
      .orderBy('generation', 'desc')
      .execute();
    if (seq < this.#loadApplied) return;
    this.#loadApplied = seq;
    const encryption = this.#encryption;
    const unwrap = (stored: string, kid: string) => encryption.unwrap(stored, kid);
    this.#keys = rows.map((row) => toSigningKey(row, unwrap));
    this.#loadedAtMs = nowMs;
    await this.#rewrap(rows);
  }

  /**
   * Stores again, under the current key-encryption key, the loaded private keys that are in clear
   * or under the previous key (a conditional update: a node that got there first wins). A key no
   * configured key opens is left as it is (it fails when used to sign, with the reason).
   */
  async #rewrap(rows: readonly Record<string, unknown>[]): Promise<void> {
    for (const row of rows) {
      const stored = String(row.private_key);
      if (!this.#encryption.needsRewrap(stored)) continue;
      const kid = String(row.kid);
      let rewrapped: string;
      try {
        rewrapped = this.#encryption.wrap(this.#encryption.unwrap(stored, kid), kid);
      } catch (error) {
        this.#logger?.error({ err: error, kid }, 'signing keys: cannot unwrap a stored private key');
        continue;
      }
      try {
        await this.#db
          .updateTable(SIGNING_KEYS_TABLE)
          .set({ private_key: rewrapped })
          .where('kid', '=', kid)
          .where('private_key', '=', stored)
          .execute();
        this.#logger?.info(
          { kid },
          'signing keys: encrypted a private key with the current key-encryption key',
        );
      } catch (error) {
        this.#logger?.warn({ err: error, kid }, 'signing keys: rewrapping a private key failed');
      }
    }
  }

  async #maxGeneration(): Promise<number> {
    const row = await this.#db
      .selectFrom(SIGNING_KEYS_TABLE)
      .select((eb) => eb.fn.max('generation').as('max'))
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }

  /**
   * Inserts generation `generation` unless some node already did, schedules the retirement of
   * the older keys (or deletes them), deletes keys long retired, then reloads either way.
   */
  async #createKey(generation: number, activatesAtMs: number, revokePrevious: boolean): Promise<boolean> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string };
    const kid = jwkThumbprint(jwk);
    const nowMs = this.#clock();
    const created = await this.#database.transaction(async (trx) => {
      const inserted = await trx
        .insertInto(SIGNING_KEYS_TABLE)
        .values({
          kid,
          generation,
          alg: SIGNING_ALG,
          public_jwk: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }),
          private_key: this.#encryption.wrap(
            privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
            kid,
          ),
          created_at: nowMs,
          activates_at: activatesAtMs,
          retires_at: null,
        })
        .onConflict((oc) => oc.column('generation').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) !== 1) return false;
      if (revokePrevious) {
        await trx.deleteFrom(SIGNING_KEYS_TABLE).where('generation', '<', generation).execute();
      } else {
        await trx
          .updateTable(SIGNING_KEYS_TABLE)
          .set({ retires_at: activatesAtMs + this.overlapMs })
          .where('generation', '<', generation)
          .where('retires_at', 'is', null)
          .execute();
        await trx
          .deleteFrom(SIGNING_KEYS_TABLE)
          .where('retires_at', '<=', nowMs - this.overlapMs)
          .execute();
      }
      return true;
    });
    if (created) this.#logger?.info({ kid, generation, activatesAtMs }, 'signing keys: created a key');
    await this.#load();
    return created;
  }
}

function toSigningKey(
  row: Record<string, unknown>,
  unwrap: (stored: string, kid: string) => string,
): SigningKey {
  const jwk = JSON.parse(String(row.public_jwk)) as { x: string };
  return new SigningKey({
    kid: String(row.kid),
    generation: Number(row.generation),
    activatesAtMs: Number(row.activates_at),
    retiresAtMs: row.retires_at == null ? null : Number(row.retires_at),
    x: jwk.x,
    privateKey: String(row.private_key),
    unwrap,
  });
}

function configError(detail: string): GroundworkError {
  return new GroundworkError('AUTH_ERR_TOKEN_CONFIG', { detail: `Signing keys: ${detail}.` });
}
