import type { Migration } from './migration.js';

/**
 * Groundwork's own tables. Later blocks append here (collections, outbox, auth, queue…).
 * Never edit a released migration; add a new one.
 */
export const systemMigrations: readonly Migration[] = [
  {
    id: '0001_meta',
    async up(db) {
      // Instance-wide key/value facts (installation id, schema generation, …).
      await db.schema
        .createTable('_gw_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
  {
    id: '0002_idempotency_keys',
    async up(db) {
      // Idempotency-Key records (src/gateway/idempotency). Times are epoch milliseconds.
      await db.schema
        .createTable('_gw_idempotency_keys')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('headers', 'text')
        .addColumn('body', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('_gw_idempotency_keys_pk', ['scope', 'key'])
        .execute();
      await db.schema
        .createIndex('_gw_idempotency_keys_expires_at')
        .on('_gw_idempotency_keys')
        .column('expires_at')
        .execute();
    },
  },
  {
    id: '0003_collections_and_outbox',
    async up(db, dialect) {
      // Collection definitions (src/data/collections): the JSON each collection was defined with.
      await db.schema
        .createTable('_gw_collections')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('updated', 'text', (c) => c.notNull())
        .execute();
      // The change outbox (src/data/outbox): one row per committed record change, in commit order.
      await db.schema
        .createTable('_gw_outbox')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('record_id', 'text', (c) => c.notNull())
        .addColumn('op', 'text', (c) => c.notNull())
        .addColumn('data', 'text')
        .addColumn('old', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  {
    id: '0004_admins_and_api_keys',
    async up(db) {
      // Admin accounts (bootstrapped from GROUNDWORK_ADMIN_EMAIL/PASSWORD) and API keys (src/auth).
      await db.schema
        .createTable('_gw_admins')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('_gw_api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('last_used_at', 'text')
        .execute();
    },
  },
  {
    id: '0005_auth_tokens',
    async up(db) {
      // JWT signing keys (src/auth/tokens/signing-keys.ts). The unique `generation` lets exactly one
      // node create the next key when several rotate at once. Times: epoch ms.
      await db.schema
        .createTable('_gw_auth_signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('generation', 'integer', (c) => c.notNull().unique())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('activates_at', 'bigint', (c) => c.notNull())
        .addColumn('retires_at', 'bigint')
        .execute();
      // Rotating refresh tokens (src/auth/tokens/refresh-tokens.ts): only the SHA-256 is kept; a
      // family is one sign-in session. Times: epoch ms.
      await db.schema
        .createTable('_gw_auth_refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('parent_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('family_expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('_gw_auth_refresh_tokens_family')
        .on('_gw_auth_refresh_tokens')
        .column('family_id')
        .execute();
      await db.schema
        .createIndex('_gw_auth_refresh_tokens_user')
        .on('_gw_auth_refresh_tokens')
        .columns(['collection', 'user_id'])
        .execute();
      await db.schema
        .createIndex('_gw_auth_refresh_tokens_family_expires_at')
        .on('_gw_auth_refresh_tokens')
        .column('family_expires_at')
        .execute();
    },
  },
  {
    id: '0006_auth_users_and_sessions',
    async up(db) {
      // Credentials of auth-collection users (src/auth/users): kept out of the collection's own table
      // so no records route, filter or expand can ever reach a password hash. Times: epoch ms.
      await db.schema
        .createTable('_gw_auth_credentials')
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('disabled_at', 'bigint')
        .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('_gw_auth_credentials_pk', ['collection', 'user_id'])
        .execute();
      // Cookie sessions (src/auth/sessions): `id` is the SHA-256 of the cookie's opaque secret.
      await db.schema
        .createTable('_gw_auth_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('csrf_token', 'text', (c) => c.notNull())
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('_gw_auth_sessions_user')
        .on('_gw_auth_sessions')
        .columns(['collection', 'user_id'])
        .execute();
      // Single-use tokens mailed for email verification and password reset; only the hash is kept.
      await db.schema
        .createTable('_gw_auth_mail_tokens')
        .addColumn('hash', 'text', (c) => c.primaryKey())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('_gw_auth_mail_tokens_user')
        .on('_gw_auth_mail_tokens')
        .columns(['collection', 'user_id', 'purpose'])
        .execute();
      // API keys owned by users, scoped to collections × operations (role 'user').
      await db.schema.alterTable('_gw_api_keys').addColumn('owner_collection', 'text').execute();
      await db.schema.alterTable('_gw_api_keys').addColumn('owner_id', 'text').execute();
      await db.schema.alterTable('_gw_api_keys').addColumn('scopes', 'text').execute();
    },
  },
];
