import type { Kysely } from 'kysely';
import { ExpiringMap } from '../../core/expiring-map.js';
import { isAuthCollection } from '../../data/collections/auth-collection.js';
import type { CollectionRegistry } from '../../data/collections/collection-registry.js';
import type { Outbox } from '../../data/outbox/outbox.js';
import type { ApiRecord } from '../../data/records/record-rows.js';
import { findRecord } from '../../data/records/records.js';
import type { AnyDb, Database } from '../../db/database.js';
import type { Credentials } from './credentials.js';

/**
 * Users as the authenticator needs them on every request: the record (its fields become
 * `@auth.*`) and whether the account is disabled. Entries are kept for `ttlMs` (default 5 s) and
 * dropped at once when this node sees the user change (outbox) or disables them, so a change made
 * on another node takes effect here within `ttlMs`.
 */
export interface DirectoryUser {
  readonly record: ApiRecord;
  readonly disabled: boolean;
}

export const USER_CACHE_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

export class UserDirectory {
  readonly #database: Database;
  readonly #registry: CollectionRegistry;
  readonly #credentials: Credentials;
  readonly #ttlMs: number;
  /** `collection/id` → the user (or undefined: known to be gone), until a deadline. */
  readonly #cache = new ExpiringMap<string, { user: DirectoryUser | undefined }>(MAX_ENTRIES);

  constructor(deps: {
    database: Database;
    registry: CollectionRegistry;
    credentials: Credentials;
    outbox: Outbox;
    ttlMs?: number;
  }) {
    this.#database = deps.database;
    this.#registry = deps.registry;
    this.#credentials = deps.credentials;
    this.#ttlMs = deps.ttlMs ?? USER_CACHE_TTL_MS;
    deps.outbox.subscribe((changes) => {
      for (const change of changes) this.invalidate(change.collection, change.recordId);
    });
  }

  /** The user, or undefined when the collection is not an auth collection or the user is gone. */
  async get(collection: string, id: string, nowMs = Date.now()): Promise<DirectoryUser | undefined> {
    const key = `${collection}/${id}`;
    const cached = this.#cache.get(key, nowMs);
    if (cached) return cached.user;
    const user = await this.load(collection, id);
    this.#cache.set(key, { user }, nowMs + this.#ttlMs);
    return user;
  }

  /** Reads the user from the database, bypassing the cache (optionally inside a transaction). */
  async load(collection: string, id: string, db?: Kysely<AnyDb>): Promise<DirectoryUser | undefined> {
    const def = this.#registry.get(collection);
    if (!def || !isAuthCollection(def)) return undefined;
    const conn = db ?? (this.#database.kysely as Kysely<AnyDb>);
    const stored = await findRecord(conn, this.#database, def, id, { kind: 'all' });
    if (!stored) return undefined;
    const credentials = await this.#credentials.get(collection, id, conn);
    return { record: stored.record, disabled: credentials?.disabledAt != null };
  }

  invalidate(collection: string, id: string): void {
    this.#cache.delete(`${collection}/${id}`);
  }
}
