import { type KeyObject, randomBytes } from 'node:crypto';
import { errors as jose, jwtVerify, SignJWT } from 'jose';
import { GroundworkError } from '../../core/errors.js';
import { ExpiringMap } from '../../core/expiring-map.js';
import { SIGNING_ALG, type SigningKey } from './signing-keys.js';

/**
 * Access tokens: short-lived JWTs (RFC 9068 profile, header `typ: at+jwt`) signed with the
 * cluster's current Ed25519 key (`SigningKeys`) and bound to a session (`sid`: the refresh-token
 * family). Verification accepts exactly what `issue` produces and refuses everything else with
 * one public error, AUTH_ERR_INVALID_TOKEN; the reason (a `TokenRejection`) is the error's
 * internal `cause`, for logs only.
 *
 * Refused: anything not a string of three base64url segments, longer than 4 KiB (before any
 * parsing), any header other than `alg`/`typ`/`kid`, any `alg` but EdDSA (so `none`, and
 * HS256/RS256/ES256 algorithm confusion, never reach a key), a `typ` other than `at+jwt`, a
 * missing or unknown `kid`, a bad signature, a wrong `iss` or `aud`, an expired token, `nbf` or
 * `iat` later than now (beyond the clock tolerance), a token older than the TTL by its `iat`,
 * missing or mistyped claims, and a token whose session is no longer active.
 *
 * Clock tolerance: 30 s by default. Nodes of one cluster are NTP-disciplined (skew well under a
 * second), so this mostly serves other services that verify against the JWKS; it lengthens the
 * worst-case life of a stolen token by 30 s (3% of the default 15 min TTL).
 */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;
export const ACCESS_TOKEN_TYPE = 'at+jwt';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const ALLOWED_HEADER = new Set(['alg', 'typ', 'kid']);
/** Most verified tokens remembered per node (the map is cleared when full). */
const VERIFIED_CACHE_SIZE = 10_000;

/** The `kid` of a token that already passed verification (so its header is well-formed). */
function kidOf(token: string): string {
  const header = JSON.parse(
    Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'),
  ) as {
    kid: string;
  };
  return header.kid;
}
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Why a token was refused: internal (logs, tests), never sent to clients. */
export type TokenRejectionReason =
  // access tokens
  | 'malformed'
  | 'too-long'
  | 'header'
  | 'algorithm'
  | 'type'
  | 'kid-missing'
  | 'kid-unknown'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'expired'
  | 'not-yet-valid'
  | 'issued-in-future'
  | 'claims'
  | 'session-revoked'
  // refresh tokens
  | 'unknown'
  | 'revoked'
  | 'reused'
  | 'reused-within-grace'
  | 'family-expired';

/** The internal cause of AUTH_ERR_INVALID_TOKEN / AUTH_ERR_INVALID_REFRESH_TOKEN. */
export class TokenRejection extends Error {
  readonly reason: TokenRejectionReason;

  constructor(reason: TokenRejectionReason, message: string = reason) {
    super(message);
    this.name = 'TokenRejection';
    this.reason = reason;
  }
}

/** The claims of a verified access token. Times are NumericDate (epoch seconds). */
export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  jti: string;
  /** The user's auth collection. */
  col: string;
  /** The session (refresh-token family) the token belongs to. */
  sid: string;
  /** Space-separated scopes (RFC 9068 §2.2.3), when issued with any. */
  scope?: string;
}

/** Where keys come from: `SigningKeys`. */
export interface AccessTokenKeys {
  readonly overlapMs: number;
  current(): Promise<SigningKey>;
  verificationKey(kid: string): Promise<KeyObject | undefined>;
}

/** Whether a session still stands: `RefreshTokens` (or any session store keyed the same way). */
export interface SessionStatus {
  isFamilyActive(familyId: string): Promise<boolean>;
}

export interface AccessTokensOptions {
  /** `iss` of issued tokens and the only one accepted (e.g. the public base URL). */
  issuer: string;
  /** `aud` of issued tokens and the only one accepted. */
  audience: string;
  /** Checked on every verification: a revoked session's tokens stop within its cache bound. */
  sessions: SessionStatus;
  /** Lifetime of a token, in ms (whole seconds are used). Default 15 min. */
  ttlMs?: number;
  /** Allowed clock difference for `exp`, `nbf` and `iat`, in ms. 0 = none. Default 30 s. */
  clockToleranceMs?: number;
  /** Epoch milliseconds. Default `Date.now`. */
  clock?: () => number;
}

export interface IssueAccessTokenInput {
  /** The user's id. */
  sub: string;
  /** The user's auth collection. */
  collection: string;
  /** The refresh-token family (session) the token belongs to. */
  sessionId: string;
  scopes?: readonly string[];
}

export interface IssuedAccessToken {
  token: string;
  /** Epoch ms (`exp` × 1000). */
  expiresAtMs: number;
  jti: string;
}

/**
 * @example
 *   const tokens = new AccessTokens(signingKeys, { issuer, audience, sessions: refreshTokens });
 *   const { token } = await tokens.issue({ sub: user.id, collection: 'users', sessionId: familyId });
 *   const claims = await tokens.verify(token); // throws AUTH_ERR_INVALID_TOKEN
 */
export class AccessTokens {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlMs: number;
  readonly clockToleranceMs: number;
  readonly #keys: AccessTokenKeys;
  readonly #sessions: SessionStatus;
  readonly #clock: () => number;
  /**
   * Tokens whose signature and claims were verified, by their exact text: a client sends the same
   * token on every request for its lifetime, so the signature (WebCrypto, a thread-pool round trip)
   * is checked once. A hit still checks expiry, that the key is still published, and the session.
   */
  readonly #verified = new ExpiringMap<string, { claims: AccessTokenClaims; kid: string }>(
    VERIFIED_CACHE_SIZE,
  );

  constructor(keys: AccessTokenKeys, options: AccessTokensOptions) {
    this.#keys = keys;
    this.#sessions = options.sessions;
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.ttlMs = options.ttlMs ?? 15 * 60_000;
    this.clockToleranceMs = options.clockToleranceMs ?? 30_000;
    this.#clock = options.clock ?? Date.now;
    if (typeof this.issuer !== 'string' || this.issuer === '') throw configError('issuer must be set');
    if (typeof this.audience !== 'string' || this.audience === '') throw configError('audience must be set');
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs < 1_000 || this.ttlMs % 1_000 !== 0)
      throw configError('ttlMs must be a whole number of seconds, at least 1000');
    if (!Number.isSafeInteger(this.clockToleranceMs) || this.clockToleranceMs < 0)
      throw configError('clockToleranceMs must be an integer ≥ 0');
    // A key must outlive every token it signed, or valid tokens would fail at rotation.
    if (keys.overlapMs < this.ttlMs + this.clockToleranceMs)
      throw configError('the signing keys overlapMs must be at least ttlMs + clockToleranceMs');
  }

  /** Signs a token for the user and session with the current key. */
  async issue(input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
    for (const [name, value] of Object.entries({
      sub: input.sub,
      collection: input.collection,
      sessionId: input.sessionId,
    })) {
      if (typeof value !== 'string' || value === '') throw new TypeError(`access token: ${name} is empty`);
    }
    const scopes = input.scopes ?? [];
    for (const scope of scopes) {
      if (!SCOPE_TOKEN.test(scope))
        throw new TypeError(`access token: invalid scope ${JSON.stringify(scope)}`);
    }
    const key = await this.#keys.current();
    const iat = Math.floor(this.#clock() / 1_000);
    const exp = iat + this.ttlMs / 1_000;
    const jti = randomBytes(16).toString('base64url');
    const claims: Record<string, unknown> = { col: input.collection, sid: input.sessionId };
    if (scopes.length > 0) claims.scope = scopes.join(' ');
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYPE, kid: key.kid })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(input.sub)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(key.privateKey);
    // Never hand out a token that verify() would refuse unread.
    if (token.length > MAX_ACCESS_TOKEN_LENGTH)
      throw new TypeError(`access token: ${token.length} characters, above ${MAX_ACCESS_TOKEN_LENGTH}`);
    return { token, expiresAtMs: exp * 1_000, jti };
  }

  /**
   * The token's claims, or AUTH_ERR_INVALID_TOKEN (401, `WWW-Authenticate: Bearer
   * error="invalid_token"`) whatever the reason. Database failures while looking up a key or
   * the session keep their own DB_ERR_* code: the token may well be valid.
   */
  async verify(token: unknown): Promise<AccessTokenClaims> {
    try {
      return await this.#verify(token);
    } catch (error) {
      if (error instanceof GroundworkError) throw error;
      throw new GroundworkError('AUTH_ERR_INVALID_TOKEN', {
        detail: 'The access token is invalid or has expired.',
        cause: toRejection(error),
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      });
    }
  }

  async #verify(token: unknown): Promise<AccessTokenClaims> {
    if (typeof token !== 'string') throw new TokenRejection('malformed', 'not a string');
    if (token.length > MAX_ACCESS_TOKEN_LENGTH) throw new TokenRejection('too-long');
    const nowMs = this.#clock();
    // Kept until the token's expiry (plus the clock tolerance): past it, the entry is gone.
    const cached = this.#verified.get(token, nowMs);
    if (cached) {
      // The exact bytes were verified before: only the key's and the session's standing can have
      // changed since.
      if (
        (await this.#keys.verificationKey(cached.kid)) !== undefined &&
        (await this.#sessions.isFamilyActive(cached.claims.sid))
      )
        return cached.claims;
      this.#verified.delete(token);
    }
    const claims = await this.#verifyFully(token);
    this.#verified.set(token, { claims, kid: kidOf(token) }, claims.exp * 1000 + this.clockToleranceMs);
    return claims;
  }

  async #verifyFully(token: string): Promise<AccessTokenClaims> {
    if (!COMPACT_JWS.test(token)) throw new TokenRejection('malformed', 'not a compact JWS');
    const { payload } = await jwtVerify(token, (header) => this.#keyFor(header), {
      algorithms: [SIGNING_ALG],
      typ: ACCESS_TOKEN_TYPE,
      issuer: this.issuer,
      audience: this.audience,
      clockTolerance: this.clockToleranceMs / 1_000,
      // Also refuses an `iat` in the future (beyond the tolerance), which jose checks only then.
      maxTokenAge: this.ttlMs / 1_000,
      currentDate: new Date(this.#clock()),
      requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
    });
    const { sub, col, sid, jti, iat, exp, scope } = payload as Record<string, unknown>;
    for (const value of [sub, col, sid, jti]) {
      if (typeof value !== 'string' || value === '') throw new TokenRejection('claims', 'missing claim');
    }
    if (scope !== undefined && typeof scope !== 'string') throw new TokenRejection('claims', 'scope');
    const claims: AccessTokenClaims = {
      iss: this.issuer,
      aud: this.audience,
      sub: sub as string,
      iat: iat as number,
      exp: exp as number,
      jti: jti as string,
      col: col as string,
      sid: sid as string,
    };
    if (scope !== undefined) claims.scope = scope;
    if (!(await this.#sessions.isFamilyActive(claims.sid))) throw new TokenRejection('session-revoked');
    return claims;
  }

  /** Runs before the signature check (nothing in the header is authenticated yet). */
  async #keyFor(header: Record<string, unknown>): Promise<KeyObject> {
    for (const name of Object.keys(header)) {
      if (!ALLOWED_HEADER.has(name)) throw new TokenRejection('header', `header parameter ${name}`);
    }
    if (header.alg !== SIGNING_ALG) throw new TokenRejection('algorithm');
    if (header.typ !== ACCESS_TOKEN_TYPE && header.typ !== `application/${ACCESS_TOKEN_TYPE}`)
      throw new TokenRejection('type');
    if (typeof header.kid !== 'string') throw new TokenRejection('kid-missing');
    const key = await this.#keys.verificationKey(header.kid);
    if (!key) throw new TokenRejection('kid-unknown');
    return key;
  }
}

/** Maps what jose (or our own checks) threw onto a reason. */
export function toRejection(error: unknown): TokenRejection {
  if (error instanceof TokenRejection) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof jose.JWTExpired) return new TokenRejection('expired', message);
  if (error instanceof jose.JWTClaimValidationFailed) {
    const byClaim: Record<string, TokenRejectionReason> = {
      iss: 'issuer',
      aud: 'audience',
      nbf: 'not-yet-valid',
      iat: 'issued-in-future',
      typ: 'type',
    };
    // Missing or mistyped claims are 'claims'; only a failed comparison names the claim's check.
    const reason = error.reason === 'check_failed' ? byClaim[error.claim] : undefined;
    return new TokenRejection(reason ?? 'claims', message);
  }
  if (error instanceof jose.JOSEAlgNotAllowed) return new TokenRejection('algorithm', message);
  if (error instanceof jose.JWSSignatureVerificationFailed) return new TokenRejection('signature', message);
  return new TokenRejection('malformed', message);
}

function configError(detail: string): GroundworkError {
  return new GroundworkError('AUTH_ERR_TOKEN_CONFIG', { detail: `Access tokens: ${detail}.` });
}
