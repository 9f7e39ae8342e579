/**
 * The distributed cache driver: records in Redis, shared by every process using the same Redis and
 * prefix. Layout and scripts are in `redis-cache-scripts.ts`. ioredis is imported when the store
 * starts, so the embedded path never loads it. Every Redis failure becomes
 * `CACHE_ERR_STORE_UNAVAILABLE`; `Cache` turns it into a miss on reads (fail-open) and the client
 * keeps reconnecting in the background.
 */
import type { Redis as RedisClient } from 'ioredis';
import { GroundworkError } from '../../core/errors.js';
import { RedisConnection, type RedisConnectionOptions } from '../../core/redis-connection.js';
import type { CacheRecord, CacheStore, CacheStoreCapabilities, CacheWrite } from '../cache-store.js';
import { decodeValue } from '../cache-values.js';
import { DELETE_SCRIPT, DELETE_TAG_SCRIPT, SET_SCRIPT } from './redis-cache-scripts.js';

export interface RedisCacheStoreOptions extends RedisConnectionOptions {
  /**
   * Prefix of every key this store writes (the namespace: one per cache). Default `gw:cache:`.
   * For Redis Cluster, put a hash tag in it (`{gw:cache}:`) so the scripts' keys share one slot.
   */
  keyPrefix?: string;
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
  readonly #connection: RedisConnection<Client>;
  readonly #recordPrefix: string;
  readonly #tagPrefix: string;

  constructor(options: RedisCacheStoreOptions = {}) {
    this.#connection = new RedisConnection<Client>(options, {
      what: 'cache store',
      unavailable,
      // Fixed script names: the scripts never change, so stores sharing a client define the same ones.
      define: (client) => {
        client.defineCommand('groundworkCacheSet', { numberOfKeys: 1, lua: SET_SCRIPT });
        client.defineCommand('groundworkCacheDelete', { numberOfKeys: 1, lua: DELETE_SCRIPT });
        client.defineCommand('groundworkCacheDeleteTag', { numberOfKeys: 1, lua: DELETE_TAG_SCRIPT });
      },
    });
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
  start(): Promise<void> {
    return this.#connection.start();
  }

  /** Readiness: undefined when Redis answers PING, else the reason. */
  check(): Promise<string | undefined> {
    return this.#connection.check();
  }

  async get(key: string, nowMs: number): Promise<CacheRecord | undefined> {
    const client = this.#connection.ready ?? (await this.#connection.client());
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
    const client = this.#connection.ready ?? (await this.#connection.client());
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
    const client = this.#connection.ready ?? (await this.#connection.client());
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
    const client = this.#connection.ready ?? (await this.#connection.client());
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

  close(): Promise<void> {
    return this.#connection.close();
  }
}

function unavailable(cause: unknown, detail = 'The cache store (Redis) did not answer.'): GroundworkError {
  return new GroundworkError('CACHE_ERR_STORE_UNAVAILABLE', { detail, cause });
}
