import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { ResolvedConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { AnyDb, Database } from '../db/database.js';
import { checkRule } from './access/rules.js';
import { RecordCache, type RecordCacheOptions } from './cache/record-cache.js';
import { CollectionRegistry } from './collections/collection-registry.js';
import { registerBatchRoute } from './http/batch-route.js';
import { registerCollectionRoutes } from './http/collections-routes.js';
import { registerRecordRoutes } from './http/records-routes.js';
import type { AfterCommit } from './http/write-transaction.js';
import { registerOpenApiRoute } from './openapi/openapi-route.js';
import { GroupCommit } from './outbox/group-commit.js';
import { type CommittedChange, Outbox } from './outbox/outbox.js';
import { RecordWriter, type WriteContext } from './records/record-writes.js';
import { RecordReader } from './records/records.js';

/**
 * The data block assembled: collections (registry + DDL), records (reads, writes, rules), the
 * change outbox, and their HTTP routes under /api/v1.
 */
export class DataApi {
  readonly registry: CollectionRegistry;
  readonly outbox: Outbox;
  /** Group commit of creates known in full beforehand (src/data/outbox/group-commit.ts). */
  readonly groupCommit: GroupCommit;
  readonly reader: RecordReader;
  readonly writer: RecordWriter;
  /** Cache-aside of record reads (src/data/cache); absent when the platform gave no cache. */
  readonly recordCache: RecordCache | undefined;
  readonly #database: Database;
  readonly #limits: ResolvedConfig['data'];
  readonly #afterCommit: AfterCommit | undefined;

  constructor(deps: {
    database: Database;
    logger: Logger;
    config: ResolvedConfig;
    cache?: Omit<RecordCacheOptions, 'registry' | 'logger'>;
  }) {
    this.#database = deps.database;
    this.#limits = deps.config.data;
    this.registry = new CollectionRegistry({ database: deps.database, logger: deps.logger, checkRule });
    this.outbox = new Outbox({ database: deps.database, logger: deps.logger });
    this.groupCommit = new GroupCommit({ database: deps.database, outbox: this.outbox });
    this.reader = new RecordReader({ database: deps.database, registry: this.registry });
    this.writer = new RecordWriter({ database: deps.database, registry: this.registry });
    const cache =
      deps.cache && new RecordCache({ ...deps.cache, registry: this.registry, logger: deps.logger });
    this.recordCache = cache;
    this.#afterCommit = cache && ((changes, written) => cache.afterCommit(changes, written));
  }

  /**
   * Runs record writes outside a records route (auth's sign-up, say) with the same guarantees:
   * one transaction with their outbox events, listeners told after commit, cached reads
   * invalidated before it resolves.
   */
  async write<T>(work: (w: WriteContext) => Promise<T>): Promise<T> {
    let committed: CommittedChange[] = [];
    const result = await this.#database.transaction(async (trx) => {
      const w: WriteContext = { trx: trx as unknown as Kysely<AnyDb>, events: [] };
      const value = await work(w);
      committed = await this.outbox.append(w.trx, w.events);
      return value;
    });
    this.outbox.publish(committed);
    await this.#afterCommit?.(committed, []);
    return result;
  }

  register(app: FastifyInstance): void {
    registerCollectionRoutes(app, { registry: this.registry });
    const deps = {
      database: this.#database,
      registry: this.registry,
      reader: this.reader,
      writer: this.writer,
      outbox: this.outbox,
      groupCommit: this.groupCommit,
      limits: this.#limits,
      cache: this.recordCache,
      afterCommit: this.#afterCommit,
    };
    registerRecordRoutes(app, deps);
    registerBatchRoute(app, deps);
    registerOpenApiRoute(app, { registry: this.registry, limits: this.#limits });
  }
}
