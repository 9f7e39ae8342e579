import type { Kysely } from 'kysely';
import { GroundworkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { isAuthCollection, normalizeEmail } from '../data/collections/auth-collection.js';
import type { CollectionDef } from '../data/collections/collection.js';
import type { DataApi } from '../data/data-api.js';
import type { ApiRecord } from '../data/records/record-rows.js';
import { findRecord } from '../data/records/records.js';
import type { AnyDb, Database } from '../db/database.js';
import type { Principal } from '../gateway/principal.js';
import type { MailSender } from '../mail/mail-sender.js';
import type { ApiKeys } from './api-keys.js';
import type { Sessions } from './sessions/sessions.js';
import type { SignInGuard } from './sign-in-guard/sign-in-guard.js';
import type { AccessTokens } from './tokens/access-tokens.js';
import type { RefreshTokens } from './tokens/refresh-tokens.js';
import type { Credentials } from './users/credentials.js';
import type { MailTokens } from './users/mail-tokens.js';
import type { UserDirectory } from './users/user-directory.js';

/**
 * What users do with their accounts, over the pieces of the auth block: sign up, sign in (session
 * cookie or tokens), refresh, sign out, change and reset a password, verify an email. Routes in
 * `http/` are thin over this. Answers never reveal whether an email is registered: sign-up and
 * the mail requests always answer 202, and sign-in runs scrypt whether or not the email exists.
 */
export interface UserAccountsDeps {
  readonly database: Database;
  readonly data: DataApi;
  readonly credentials: Credentials;
  readonly users: UserDirectory;
  readonly sessions: Sessions;
  readonly accessTokens: AccessTokens;
  readonly refreshTokens: RefreshTokens;
  readonly mailTokens: MailTokens;
  readonly apiKeys: ApiKeys;
  readonly guard: SignInGuard;
  readonly mail: MailSender;
  readonly logger: Logger;
  readonly publicUrl: () => string;
  readonly verificationTtlMs: number;
  readonly resetTtlMs: number;
}

export interface TokenPair {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
}

export class UserAccounts {
  readonly #d: UserAccountsDeps;

  constructor(deps: UserAccountsDeps) {
    this.#d = deps;
  }

  /** The auth collection named in a route, or 404. */
  collection(name: string): CollectionDef {
    const def = this.#d.data.registry.get(name);
    if (!def || !isAuthCollection(def))
      throw new GroundworkError('AUTH_ERR_NOT_AUTH_COLLECTION', {
        detail: `"${name.slice(0, 64)}" is not an auth collection.`,
      });
    return def;
  }

  /** The user with this email (lower-cased), read without rules. */
  async findByEmail(def: CollectionDef, email: string, db?: Kysely<AnyDb>): Promise<ApiRecord | undefined> {
    const conn = db ?? (this.#d.database.kysely as Kysely<AnyDb>);
    const row = await conn
      .selectFrom(def.name)
      .select('id')
      .where('email', '=', normalizeEmail(email))
      .executeTakeFirst();
    if (!row) return undefined;
    return (await findRecord(conn, this.#d.database, def, String(row.id), { kind: 'all' }))?.record;
  }

  /**
   * Sign-up: creates the user (the collection's `create` rule decides who may; `""` = anyone) with
   * its password, and mails a verification token. An email already registered gets a notice mail
   * instead, and the caller sees the same 202 either way.
   */
  async signUp(
    def: CollectionDef,
    input: { email: string; password: string; fields: Record<string, unknown> },
    caller: Principal,
  ): Promise<void> {
    const email = normalizeEmail(input.email);
    const existing = await this.findByEmail(def, email);
    if (existing) {
      // Same cost as a real sign-up (one scrypt), then a notice to the owner of the address.
      await this.#d.credentials.check(undefined, input.password);
      this.#mailLater(email, 'Sign-up attempt', [
        'Someone tried to sign up with this email address, which already has an account.',
        'If it was you, sign in or reset your password instead. Otherwise, ignore this mail.',
      ]);
      return;
    }
    const created = await this.#d.data
      .write(async (w) => {
        const stored = await this.#d.data.writer.create(w, def, { ...input.fields, email }, caller, {
          signUp: true,
        });
        await this.#d.credentials.setPassword(def.name, stored.record.id, input.password, w.trx);
        return stored.record;
      })
      .catch((error: unknown) => {
        // Two sign-ups with one email at once: the unique index decides; the loser looks the same.
        if (error instanceof GroundworkError && error.code === 'DB_ERR_UNIQUE_VIOLATION') return undefined;
        throw error;
      });
    if (created) await this.requestVerification(def, email);
  }

  /** Checks the password (after the brute-force guard) and returns the user, or a 401 that says nothing more. */
  async checkPassword(def: CollectionDef, email: string, password: string, ip: string): Promise<ApiRecord> {
    const attempt = { collection: def.name, email, ip };
    const admitted = await this.#d.guard.admit(attempt);
    if (!admitted.ok) throw admitted.error;
    const user = await this.findByEmail(def, email);
    const credentials = user ? await this.#d.credentials.get(def.name, user.id) : undefined;
    const ok = await this.#d.credentials.check(credentials, password);
    if (!ok || !user || credentials?.disabledAt != null) throw invalidSignIn();
    await this.#d.guard.recordSuccess(attempt);
    return user;
  }

  /** A new token session: a refresh-token family and its first access token. */
  async issueTokens(def: CollectionDef, user: ApiRecord): Promise<TokenPair> {
    const refresh = await this.#d.refreshTokens.issue({ id: user.id, collection: def.name });
    return this.#pair(refresh.token, refresh.familyId, user.id, def.name);
  }

  /** Rotates a refresh token (reuse of a spent one revokes its whole family). */
  /** Rotates a refresh token of `collection`'s users (a token of another collection is refused). */
  async refresh(token: unknown, collection: string): Promise<TokenPair & { user: ApiRecord }> {
    const next = await this.#d.refreshTokens.rotate(token, collection);
    const user = await this.#d.users.load(next.collection, next.userId);
    if (!user || user.disabled) {
      await this.#d.refreshTokens.revokeFamily(next.familyId);
      throw new GroundworkError('AUTH_ERR_INVALID_REFRESH_TOKEN', {
        detail: 'The refresh token is not valid.',
      });
    }
    return {
      ...(await this.#pair(next.token, next.familyId, next.userId, next.collection)),
      user: user.record,
    };
  }

  async #pair(
    refreshToken: string,
    familyId: string,
    userId: string,
    collection: string,
  ): Promise<TokenPair> {
    const access = await this.#d.accessTokens.issue({ sub: userId, collection, sessionId: familyId });
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.ceil((access.expiresAtMs - Date.now()) / 1000)),
      refresh_token: refreshToken,
    };
  }

  /**
   * Changes the password of a signed-in user who proved the current one, then ends every other
   * session and token family (the caller's own stays), and voids mailed tokens.
   */
  async changePassword(principal: Principal, current: string, next: string): Promise<void> {
    if (principal.kind !== 'user') throw invalidSignIn();
    const credentials = await this.#d.credentials.get(principal.collection, principal.id);
    if (!(await this.#d.credentials.check(credentials, current)))
      throw new GroundworkError('AUTH_ERR_INVALID_CREDENTIALS', { detail: 'The current password is wrong.' });
    await this.#d.credentials.setPassword(principal.collection, principal.id, next);
    await this.revokeOthers(principal);
  }

  /** Ends every session and token family of the user except the one `principal` is using. */
  async revokeOthers(principal: Principal): Promise<void> {
    if (principal.kind !== 'user') return;
    const keep = principal.sessionId;
    await this.#d.sessions.revokeAll(
      principal.collection,
      principal.id,
      principal.via === 'session' ? keep : undefined,
    );
    await this.#d.refreshTokens.revokeAllForUser(
      principal.collection,
      principal.id,
      principal.via === 'token' ? keep : undefined,
    );
    await this.#d.mailTokens.revokeAll(principal.collection, principal.id);
  }

  /** Ends everything of a user: sessions, token families, API keys, mailed tokens. */
  async revokeEverything(collection: string, userId: string, db?: Kysely<AnyDb>): Promise<void> {
    await this.#d.sessions.revokeAll(collection, userId);
    await this.#d.refreshTokens.revokeAllForUser(collection, userId);
    await this.#d.apiKeys.revokeAllForUser(collection, userId, db);
    await this.#d.mailTokens.revokeAll(collection, userId, db);
    this.#d.users.invalidate(collection, userId);
  }

  /** Mails a password-reset token when the email is registered; the caller sees 202 either way. */
  async requestPasswordReset(def: CollectionDef, email: string): Promise<void> {
    const user = await this.findByEmail(def, email);
    if (!user) return;
    const token = await this.#d.mailTokens.issue(
      'reset-password',
      { collection: def.name, userId: user.id, email: String(user.email) },
      this.#d.resetTtlMs,
    );
    this.#mailLater(String(user.email), 'Reset your password', [
      'Someone asked to reset the password of your account. If it was not you, ignore this mail.',
      `Reset token (valid ${Math.round(this.#d.resetTtlMs / 60_000)} min, once): ${token}`,
      `POST ${this.#d.publicUrl()}/api/v1/collections/${def.name}/auth/password-reset/confirm`,
      `with {"token": "${token}", "password": "<new password>"}`,
    ]);
  }

  /** Sets a new password from a reset token, ending every session and token family of the user. */
  async confirmPasswordReset(def: CollectionDef, token: unknown, password: string): Promise<void> {
    const use = await this.#d.mailTokens.consume('reset-password', token);
    if (!use || use.collection !== def.name) throw invalidMailToken();
    const user = await this.#d.users.load(def.name, use.userId);
    if (!user || String(user.record.email) !== use.email) throw invalidMailToken();
    await this.#d.credentials.setPassword(def.name, use.userId, password);
    await this.#d.sessions.revokeAll(def.name, use.userId);
    await this.#d.refreshTokens.revokeAllForUser(def.name, use.userId);
    await this.#d.guard.resetAccount({ collection: def.name, email: use.email });
  }

  /** Mails a verification token to a registered, unverified email; silent otherwise. */
  async requestVerification(def: CollectionDef, email: string): Promise<void> {
    const user = await this.findByEmail(def, email);
    if (!user || user.verified === true) return;
    const token = await this.#d.mailTokens.issue(
      'verify-email',
      { collection: def.name, userId: user.id, email: String(user.email) },
      this.#d.verificationTtlMs,
    );
    this.#mailLater(String(user.email), 'Verify your email address', [
      'Confirm that this address is yours.',
      `Verification token (valid ${Math.round(this.#d.verificationTtlMs / 3_600_000)} h, once): ${token}`,
      `POST ${this.#d.publicUrl()}/api/v1/collections/${def.name}/auth/verification/confirm`,
      `with {"token": "${token}"}`,
    ]);
  }

  /** Marks the email verified (an outbox `update` of the user record), from a verification token. */
  async confirmVerification(def: CollectionDef, token: unknown): Promise<void> {
    await this.#d.data.write(async (w) => {
      const use = await this.#d.mailTokens.consume('verify-email', token, w.trx);
      if (!use || use.collection !== def.name) throw invalidMailToken();
      const user = await findRecord(w.trx, this.#d.database, def, use.userId, { kind: 'all' });
      if (!user || String(user.record.email) !== use.email) throw invalidMailToken();
      await this.#d.data.writer.update(w, def, use.userId, { verified: true }, 'patch', undefined, SYSTEM);
    });
  }

  /** Sends in the background: the answer never waits on (or reveals) the mail. */
  #mailLater(to: string, subject: string, lines: string[]): void {
    this.#d.mail.send({ to, subject, text: `${lines.join('\n')}\n` }).catch((error: unknown) => {
      this.#d.logger.warn({ err: error, subject }, 'auth mail not sent');
    });
  }
}

/** The principal auth acts as when it writes a user record on the user's behalf (verification). */
const SYSTEM: Principal = { kind: 'admin', id: 'system:auth' };

export function invalidSignIn(): GroundworkError {
  return new GroundworkError('AUTH_ERR_INVALID_CREDENTIALS', { detail: 'Wrong email or password.' });
}

function invalidMailToken(): GroundworkError {
  return new GroundworkError('AUTH_ERR_INVALID_MAIL_TOKEN', {
    detail: 'This token is unknown, used, expired or replaced by a newer one.',
  });
}
