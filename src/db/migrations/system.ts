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
];
