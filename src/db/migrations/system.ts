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
];
