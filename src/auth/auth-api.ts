import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { ResolvedConfig } from '../core/config.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { isAuthCollection } from '../data/collections/auth-collection.js';
import type { DataApi } from '../data/data-api.js';
import type { AnyDb, Database } from '../db/database.js';
import { CapturedMailbox } from '../mail/drivers/captured-mailbox.js';
import { SmtpMailSender } from '../mail/drivers/smtp-mail-sender.js';
import type { MailSender } from '../mail/mail-sender.js';
import type { ApiKeys } from './api-keys.js';
import { AuthHousekeeping } from './auth-housekeeping.js';
import type { Authenticator } from './authenticator.js';
import { registerAccountRoutes } from './http/account-routes.js';
import { registerAdminUserRoutes } from './http/admin-users-routes.js';
import { registerUserAuthRoutes } from './http/user-auth-routes.js';
import { SqlSessionStore } from './sessions/drivers/sql-session-store.js';
import { Sessions } from './sessions/sessions.js';
import { MemorySignInGuardStore } from './sign-in-guard/drivers/memory-sign-in-guard-store.js';
import { RedisSignInGuardStore } from './sign-in-guard/drivers/redis-sign-in-guard-store.js';
import { SignInGuard } from './sign-in-guard/sign-in-guard.js';
import { AccessTokens } from './tokens/access-tokens.js';
import { KeyEncryption } from './tokens/key-encryption.js';
import { RefreshTokens } from './tokens/refresh-tokens.js';
import { SigningKeys } from './tokens/signing-keys.js';
import { UserAccounts } from './user-accounts.js';
import { Credentials } from './users/credentials.js';
import { MailTokens } from './users/mail-tokens.js';
import { UserDirectory } from './users/user-directory.js';

/**
 * The auth block assembled: users of auth collections (credentials, mails, sign-in guard),
 * cookie sessions, JWT access tokens with rotating signing keys and refresh-token families, and
 * user API keys; plugged into the gateway's authenticator and the data block's delete hook.
 */
export class AuthApi implements Component {
  readonly name = 'auth';
  readonly credentials: Credentials;
  readonly users: UserDirectory;
  readonly sessions: Sessions;
  readonly signingKeys: SigningKeys;
  readonly accessTokens: AccessTokens;
  readonly refreshTokens: RefreshTokens;
  readonly mailTokens: MailTokens;
  /** Deletes ended sessions, spent mail tokens and expired refresh families every ten minutes. */
  readonly housekeeping: AuthHousekeeping;
  readonly guard: SignInGuard;
  readonly mail: MailSender;
  readonly mailbox: CapturedMailbox | undefined;
  readonly accounts: UserAccounts;
  readonly #data: DataApi;
  readonly #apiKeys: ApiKeys;
  readonly #smtp: SmtpMailSender | undefined;
  readonly #guardStore: RedisSignInGuardStore | undefined;

  constructor(deps: {
    database: Database;
    data: DataApi;
    apiKeys: ApiKeys;
    authenticator: Authenticator;
    config: ResolvedConfig;
    logger: Logger;
    metrics: Metrics;
    publicUrl: () => string;
  }) {
    const auth = deps.config.auth;
    this.#data = deps.data;
    this.#apiKeys = deps.apiKeys;
    this.credentials = new Credentials(deps.database);
    this.users = new UserDirectory({
      database: deps.database,
      registry: deps.data.registry,
      credentials: this.credentials,
      outbox: deps.data.outbox,
    });
    this.sessions = new Sessions(new SqlSessionStore(deps.database), {
      idleTimeoutMs: auth.sessionIdleTimeoutS * 1000,
      absoluteTimeoutMs: auth.sessionAbsoluteTimeoutS * 1000,
    });
    this.refreshTokens = new RefreshTokens(deps.database, {
      ttlMs: auth.refreshTokenTtlS * 1000,
      familyLifetimeMs: auth.refreshFamilyTtlS * 1000,
    });
    this.signingKeys = new SigningKeys(deps.database, {
      rotateAfterMs: auth.signingKeyRotateAfterS * 1000,
      overlapMs: auth.accessTokenTtlS * 1000 + 5 * 60_000,
      encryption: KeyEncryption.fromConfig(auth.keyEncryptionKey, auth.previousKeyEncryptionKey),
      logger: deps.logger,
    });
    const issuer = auth.publicUrl ?? 'groundwork';
    this.accessTokens = new AccessTokens(this.signingKeys, {
      issuer,
      audience: issuer,
      sessions: this.refreshTokens,
      ttlMs: auth.accessTokenTtlS * 1000,
    });
    this.mailTokens = new MailTokens(deps.database);
    this.housekeeping = new AuthHousekeeping({
      sessions: this.sessions,
      mailTokens: this.mailTokens,
      refreshTokens: this.refreshTokens,
      logger: deps.logger,
    });
    // With Redis configured for rate limits, failed sign-ins are counted across nodes there too.
    const redisUrl = deps.config.gateway.rateLimit.storeUrl;
    this.#guardStore = redisUrl ? new RedisSignInGuardStore({ url: redisUrl }) : undefined;
    this.guard = new SignInGuard({
      store: this.#guardStore ?? new MemorySignInGuardStore(),
      metrics: deps.metrics,
      onStoreError: (error) => deps.logger.warn({ err: error }, 'sign-in guard store failed'),
    });
    if (auth.smtpUrl) {
      this.#smtp = new SmtpMailSender({ url: auth.smtpUrl, from: auth.mailFrom, logger: deps.logger });
      this.mail = this.#smtp;
    } else {
      this.mailbox = new CapturedMailbox({ from: auth.mailFrom });
      this.mail = this.mailbox;
    }
    this.accounts = new UserAccounts({
      database: deps.database,
      data: deps.data,
      credentials: this.credentials,
      users: this.users,
      sessions: this.sessions,
      accessTokens: this.accessTokens,
      refreshTokens: this.refreshTokens,
      mailTokens: this.mailTokens,
      apiKeys: deps.apiKeys,
      guard: this.guard,
      mail: this.mail,
      logger: deps.logger,
      publicUrl: () => auth.publicUrl ?? deps.publicUrl(),
      verificationTtlMs: auth.verificationTtlS * 1000,
      resetTtlMs: auth.resetTtlS * 1000,
    });
    deps.authenticator.setUserAuthentication({
      users: this.users,
      sessions: this.sessions,
      accessTokens: this.accessTokens,
      trustedOrigins: new Set(auth.trustedOrigins),
    });
    // Deleting a user (records API, cascades included) drops everything that let them in, in the
    // same transaction.
    deps.data.writer.onDelete(async (trx, def, id) => {
      if (isAuthCollection(def)) await dropUserState(trx, def.name, id);
    });
  }

  async start(): Promise<void> {
    // Unwraps the signing key now: a missing or wrong key-encryption key stops start-up, with the reason.
    void (await this.signingKeys.current()).privateKey;
    await this.#guardStore?.start();
    await this.#smtp?.start();
    this.housekeeping.start();
  }

  async close(): Promise<void> {
    await this.housekeeping.stop();
    await this.#smtp?.close();
    await this.#guardStore?.close();
  }

  register(app: FastifyInstance): void {
    const auth = { accounts: this.accounts, sessions: this.sessions, refreshTokens: this.refreshTokens };
    registerUserAuthRoutes(app, auth);
    registerAccountRoutes(app, { accounts: this.accounts, sessions: this.sessions, apiKeys: this.#apiKeys });
    registerAdminUserRoutes(app, {
      data: this.#data,
      accounts: this.accounts,
      credentials: this.credentials,
      users: this.users,
      mailbox: this.mailbox,
    });
    app.get('/.well-known/jwks.json', { config: { access: 'public' } }, async (_request, reply) =>
      reply.header('cache-control', 'public, max-age=300').send(await this.signingKeys.jwks()),
    );
  }
}

/** Removes a deleted user's credentials, sessions, mailed tokens and token families; revokes their keys. */
async function dropUserState(trx: Kysely<AnyDb>, collection: string, userId: string): Promise<void> {
  const now = Date.now();
  await trx
    .deleteFrom('_gw_auth_credentials')
    .where('collection', '=', collection)
    .where('user_id', '=', userId)
    .execute();
  await trx
    .deleteFrom('_gw_auth_sessions')
    .where('collection', '=', collection)
    .where('user_id', '=', userId)
    .execute();
  await trx
    .deleteFrom('_gw_auth_mail_tokens')
    .where('collection', '=', collection)
    .where('user_id', '=', userId)
    .execute();
  await trx
    .updateTable('_gw_api_keys')
    .set({ revoked_at: new Date(now).toISOString() })
    .where('owner_collection', '=', collection)
    .where('owner_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
  await trx
    .deleteFrom('_gw_auth_refresh_tokens')
    .where('collection', '=', collection)
    .where('user_id', '=', userId)
    .execute();
}
