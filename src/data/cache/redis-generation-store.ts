/**
 * Generation numbers in Redis, one string key per collection (`<prefix>gen:<collection>`), shared
 * by every node: `bump` is `INCR` in a script, `read` a `GET` that creates a missing counter. Both
 * are one round trip for any number of collections. A missing counter (new collection, or a Redis
 * that restarted empty) starts from Redis's own clock in µs (`TIME`), so numbers never repeat: a
 * counter incremented once per write cannot overtake the clock it started from.
 *
 * Fails fast like the Redis cache store (no offline queue, no retries inside ioredis, a response
 * timeout): a read that cannot get its generations falls back to the database, and a write's bump
 * is retried by `RecordCache`. ioredis is imported when the store starts.
 */
import type { Redis as RedisClient } from 'ioredis';
import { GroundworkError } from '../../core/errors.js';
import { RedisConnection, type RedisConnectionOptions } from '../../core/redis-connection.js';
import type { GenerationStore } from './generations.js';

/** A counter's first value: Redis's clock in µs, as a decimal string (INCR parses it). */
const START = `
local function start()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end
`;

/** KEYS: counters. Returns their values (as strings), creating missing ones. */
const READ_SCRIPT = `${START}
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, start(), 'NX')
    v = redis.call('GET', key)
  end
  out[i] = v
end
return out
`;

/** KEYS: counters. Increments each (creating missing ones first); returns the new values. */
const BUMP_SCRIPT = `${START}
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then redis.call('SET', key, start()) end
  -- An integer reply (exact below 2^53); tostring would print a double as 1.7e+15.
  out[i] = redis.call('INCR', key)
end
return out
`;

export interface RedisGenerationStoreOptions
  extends Pick<RedisConnectionOptions, 'connectTimeoutMs' | 'responseTimeoutMs'> {
  url: string;
  /** Prefix of the counters' keys. Default `gw:`. */
  keyPrefix?: string;
}

interface Commands {
  groundworkGenerationRead(count: number, ...keys: string[]): Promise<string[]>;
  groundworkGenerationBump(count: number, ...keys: string[]): Promise<number[]>;
}

type Client = RedisClient & Commands;

export class RedisGenerationStore implements GenerationStore {
  readonly name = 'cache-generations';
  readonly shared = true;
  readonly #connection: RedisConnection<Client>;
  readonly #prefix: string;

  constructor(options: RedisGenerationStoreOptions) {
    this.#connection = new RedisConnection<Client>(options, {
      what: 'cache generation store',
      unavailable,
      connectionName: 'groundwork-cache-generations',
      define: (client) => {
        client.defineCommand('groundworkGenerationRead', { lua: READ_SCRIPT });
        client.defineCommand('groundworkGenerationBump', { lua: BUMP_SCRIPT });
      },
    });
    this.#prefix = `${options.keyPrefix ?? 'gw:'}gen:`;
  }

  /** The Redis key of a collection's counter (diagnostics, tests). */
  keyOf(collection: string): string {
    return this.#prefix + collection;
  }

  /** Connects; rejects when Redis cannot be reached (ioredis keeps retrying in the background). */
  start(): Promise<void> {
    return this.#connection.start();
  }

  close(): Promise<void> {
    return this.#connection.close();
  }

  async read(collections: readonly string[]): Promise<number[]> {
    const client = await this.#connection.client();
    try {
      const keys = collections.map((name) => this.#prefix + name);
      return (await client.groundworkGenerationRead(keys.length, ...keys)).map(Number);
    } catch (error) {
      throw unavailable(error);
    }
  }

  async bump(collections: readonly string[]): Promise<number[]> {
    const client = await this.#connection.client();
    try {
      const keys = collections.map((name) => this.#prefix + name);
      return (await client.groundworkGenerationBump(keys.length, ...keys)).map(Number);
    } catch (error) {
      throw unavailable(error);
    }
  }
}

function unavailable(cause: unknown, detail = 'Redis did not answer (cache generations).'): GroundworkError {
  return new GroundworkError('CACHE_ERR_STORE_UNAVAILABLE', { detail, cause });
}
