/**
 * The distributed cache driver: records in Redis, shared by every process using the same Redis and
 * prefix. Layout and scripts are in `redis-cache-scripts.ts`. ioredis is imported when the store
 * starts, so the embedded path never loads it. Every Redis failure becomes
 * `CACHE_ERR_STORE_UNAVAILABLE`; `Cache` turns it into a miss on reads (fail-open) and the client
 * keeps reconnecting in the background.
 */
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { GroundworkError } from '../../core/errors.js';
import type { CacheRecord, CacheStore, CacheStoreCapabilities, CacheWrite } from '../cache-store.js';
import { decodeValue } from '../cache-values.js';
import { DELETE_SCRIPT, DELETE_TAG_SCRIPT, SET_SCRIPT } from './redis-cache-scripts.js';

export interface RedisCacheStoreOptions {
  /** `redis://[user:pass@]host:port[/db]`; ignored when `client` is given. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * An ioredis client to use instead of opening one; it is not closed by `close()`. Configure it to
   * fail fast (`enableOfflineQueue: false`, `maxRetriesPerRequest: 0`) or reads wait for Redis
   * instead of falling back to the loader.
   */
  client?: RedisClient;
  /**
   * Prefix of every key this store writes (the namespace: one per cache). Default `gw:cache:`.
   * For Redis Cluster, put a hash tag in it (`{gw:cache}:`) so the scripts' keys share one slot.
   */
  keyPrefix?: string;
  /** Give up connecting after this many ms. Default 1000. */
  connectTimeoutMs?: number;
  /**
   * A connection that owes replies and receives nothing for this many ms is dropped (its pending
   * commands fail, then it reconnects): a hung Redis fails fast. Default 1000; 0 = no limit.
   */
  responseTimeoutMs?: number;
  /** Send commands issued in the same tick in one write (ioredis auto-pipelining). Default true. */
  autoPipelining?: boolean;
}

interface CacheCommands {
  groundworkCacheSet(key: string, ...args: (string | number)[]): Promise<unknown>;
  groundworkCacheDelete(key: string, tagPrefix: string, member: string): Promise<number>;
  groundworkCacheDeleteTag(
    key: string,
    recordPrefix: string,
    tagPrefix: string,
    tag: string,
  ): Promise<number>;
}

type Client = RedisClient & CacheCommands;

/**
 * Memory is bounded by Redis itself (`maxmemory`), not by this driver: every record has a `PX`
 * expiry (its stale deadline), so Redis reclaims expired records on its own. Pick the policy with
 * tags in mind: under `noeviction`, writes fail when Redis is full (`Cache` counts them and keeps
 * serving from the loader) and tag invalidation stays exact; under `allkeys-*`/`volatile-*`, Redis
 * may evict a tag set while its records live, and `deleteByTag` then misses them until their TTL.
 *
 * Time: records carry the writer's clock (`storedAtMs`, `freshUntilMs`, `staleUntilMs`); `PX` is
 * the remaining lifetime, so the engine's clock is never compared with the nodes'. Nodes sharing a
 * Redis should keep their clocks in sync (NTP): a node whose clock runs behind by d serves a value
 * up to d ms past its TTL.
 *
 * @example
 *   const store = new RedisCacheStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'gw:cache:records:' });
 *   const cache = new Cache({ name: 'records', store });
 *   await cache.start();
 */
export class RedisCacheStore implements CacheStore {
  readonly name = 'cache-redis';
  readonly capabilities: CacheStoreCapabilities = { crossProcess: true };
  readonly #options: RedisCacheStoreOptions;
  readonly #recordPrefix: string;
  readonly #tagPrefix: string;
  #client: Promise<Client> | undefined;
  /** The client once created and its first connection attempt settled: the hot path's shortcut. */
  #ready: Client | undefined;
  #ownsClient = false;
  #lastError: unknown;
  #closed = false;

  constructor(options: RedisCacheStoreOptions = {}) {
    this.#options = options;
    const prefix = options.keyPrefix ?? 'gw:cache:';
    this.#recordPrefix = `${prefix}k:`;
    this.#tagPrefix = `${prefix}t:`;
  }

  /** The Redis key of `key`'s record (for diagnostics and tests). */
  recordKey(key: string): string {
    return this.#recordPrefix + key;
  }

  /** The Redis key of `tag`'s set of keys (for diagnostics and tests). */
  tagKey(tag: string): string {
    return this.#tagPrefix + tag;
  }

  /**
   * Connects (loading ioredis). Rejects when Redis cannot be reached, but keeps retrying in the
   * background, so a caller may go on degraded (reads fall back to loaders). Operations call it.
   */
  async start(): Promise<void> {
    const client = await this.#connect();
    if (client.status !== 'ready') {
      throw unavailable(this.#lastError, 'Cannot connect to the cache store (Redis).');
    }
  }

  /** Readiness: undefined when Redis answers PING, else the reason. */
  async check(): Promise<string | undefined> {
    try {
      await (await this.#connect()).ping();
      return undefined;
    } catch (error) {
      return `cache store (Redis): ${(error as Error).message}`;
    }
  }

  async get(key: string, nowMs: number): Promise<CacheRecord | undefined> {
    const client = this.#ready ?? (await this.#connect());
    let reply: (string | null)[];
    try {
      reply = await client.hmget(this.#recordPrefix + key, 'm', 'v');
    } catch (error) {
      throw unavailable(error);
    }
    const [meta, json] = reply;
    if (meta == null || json == null) return undefined;
    const first = meta.indexOf(' ');
    const second = meta.indexOf(' ', first + 1);
    const staleUntilMs = Number(meta.slice(second + 1));
    if (first < 0 || second < 0 || !(nowMs < staleUntilMs)) return undefined;
    return {
      value: json === '' ? undefined : decodeValue(json),
      storedAtMs: Number(meta.slice(0, first)),
      freshUntilMs: Number(meta.slice(first + 1, second)),
      staleUntilMs,
    };
  }

  async set(key: string, write: CacheWrite, nowMs: number): Promise<boolean> {
    const client = this.#ready ?? (await this.#connect());
    const meta = `${write.storedAtMs} ${write.freshUntilMs} ${write.staleUntilMs}`;
    const px = Math.max(1, write.staleUntilMs - nowMs);
    try {
      await client.groundworkCacheSet(
        this.#recordPrefix + key,
        this.#tagPrefix,
        key,
        meta,
        write.json,
        px,
        ...write.tags,
      );
    } catch (error) {
      throw unavailable(error);
    }
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const client = this.#ready ?? (await this.#connect());
    try {
      return (await client.groundworkCacheDelete(this.#recordPrefix + key, this.#tagPrefix, key)) > 0;
    } catch (error) {
      throw unavailable(error);
    }
  }

  /**
   * One script, atomic but not incremental: a tag with n keys blocks Redis for O(n) (about 1 µs a
   * key). Keep tags narrow enough (per collection, per record) for that to stay short.
   */
  async deleteByTag(tag: string): Promise<number> {
    const client = this.#ready ?? (await this.#connect());
    try {
      return await client.groundworkCacheDeleteTag(
        this.#tagPrefix + tag,
        this.#recordPrefix,
        this.#tagPrefix,
        tag,
      );
    } catch (error) {
      throw unavailable(error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = undefined;
    if (this.#client === undefined || !this.#ownsClient) return;
    const client = await this.#client.catch(() => undefined);
    if (client === undefined) return;
    if (client.status === 'ready') {
      await client.quit().catch(() => client.disconnect());
    } else {
      client.disconnect();
    }
  }

  #connect(): Promise<Client> {
    if (this.#closed) return Promise.reject(unavailable(undefined, 'The cache store is closed.'));
    this.#client ??= this.#createClient();
    return this.#client;
  }

  async #createClient(): Promise<Client> {
    let client = this.#options.client;
    if (client === undefined) {
      const { Redis } = await import('ioredis');
      const response = this.#options.responseTimeoutMs ?? 1_000;
      const options: RedisOptions = {
        connectTimeout: this.#options.connectTimeoutMs ?? 1_000,
        // Fail fast instead of queueing: a read that waits for Redis is worse than one that loads.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: (times) => Math.min(times * 100, 1_000),
        enableAutoPipelining: this.#options.autoPipelining ?? true,
        ...(response > 0 ? { socketTimeout: response } : {}),
      };
      client = new Redis(this.#options.url ?? 'redis://127.0.0.1:6379', options);
      this.#ownsClient = true;
      // Errors surface through the failed commands; without a listener ioredis would print each one.
      client.on('error', (error: unknown) => {
        this.#lastError = error;
      });
    }
    // Fixed script names: the scripts never change, so stores sharing a client define the same ones.
    client.defineCommand('groundworkCacheSet', { numberOfKeys: 1, lua: SET_SCRIPT });
    client.defineCommand('groundworkCacheDelete', { numberOfKeys: 1, lua: DELETE_SCRIPT });
    client.defineCommand('groundworkCacheDeleteTag', { numberOfKeys: 1, lua: DELETE_TAG_SCRIPT });
    // Without an offline queue, commands sent before the connection is up fail: wait for the first
    // attempt to settle (either way) so the first operations after start-up are answered.
    await settled(client);
    if (!this.#closed) this.#ready = client as Client;
    return client as Client;
  }
}

/** Resolves once the client is ready or its connection attempt has failed. */
function settled(client: RedisClient): Promise<void> {
  if (client.status === 'ready' || client.status === 'end') return Promise.resolve();
  // A caller's client made with lazyConnect waits for a first command: connect it now.
  if (client.status === 'wait') client.connect().catch(() => {});
  return new Promise<void>((resolve) => {
    const done = (): void => {
      client.off('ready', done);
      client.off('error', done);
      client.off('end', done);
      resolve();
    };
    client.once('ready', done);
    client.once('error', done);
    client.once('end', done);
  });
}

function unavailable(cause: unknown, detail = 'The cache store (Redis) did not answer.'): GroundworkError {
  return new GroundworkError('CACHE_ERR_STORE_UNAVAILABLE', { detail, cause });
}
