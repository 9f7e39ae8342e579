/**
 * One Redis connection as every Groundwork Redis driver wants it (rate limits, cache records, cache
 * generations, the sign-in guard): opened lazily with ioredis imported on first use (so the embedded
 * path never loads it), failing fast instead of queueing (no offline queue, no retries inside
 * ioredis, a response timeout per connection), reconnecting in the background (≤ 1 s apart), with
 * the driver's Lua commands defined on it, and closed only when the driver opened it.
 *
 * A driver keeps one `RedisConnection`, gets its client with `client()` (or `ready` on a hot path),
 * and maps failures to its own error code through `unavailable`.
 *
 * @example
 *   const connection = new RedisConnection(options, {
 *     what: 'cache store',
 *     unavailable: (cause, detail) => new GroundworkError('CACHE_ERR_STORE_UNAVAILABLE', { detail, cause }),
 *     define: (client) => client.defineCommand('groundworkCacheSet', { numberOfKeys: 1, lua: SET_SCRIPT }),
 *   });
 *   const client = connection.ready ?? (await connection.client());
 */
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import type { GroundworkError } from './errors.js';

export interface RedisConnectionOptions {
  /** `redis://[user:pass@]host:port[/db]`; ignored when `client` is given. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * An ioredis client to use instead of opening one; it is not closed by `close()`. Configure it to
   * fail fast (`enableOfflineQueue: false`, `maxRetriesPerRequest: 0`), or callers wait for Redis.
   */
  client?: RedisClient;
  /** Give up a connection attempt after this many ms. Default 1000. */
  connectTimeoutMs?: number;
  /**
   * A connection that owes replies and receives nothing for this many ms is dropped (its pending
   * commands fail, then it reconnects): a hung or partitioned Redis fails fast. One timer per
   * connection, not per command. Default 1000; 0 = no limit.
   */
  responseTimeoutMs?: number;
  /** Send commands issued in the same tick in one write (ioredis auto-pipelining). Default true. */
  autoPipelining?: boolean;
}

export interface RedisConnectionRole {
  /** What the connection serves, for messages: `cache store` → "Cannot connect to the cache store (Redis)." */
  readonly what: string;
  /** The driver's error for a Redis that does not answer. */
  readonly unavailable: (cause: unknown, detail?: string) => GroundworkError;
  /** Defines the driver's commands (`defineCommand`) on the client, whoever opened it. */
  readonly define?: (client: RedisClient) => void;
  /** `CLIENT SETNAME` of a connection this opens (shown by `CLIENT LIST`). */
  readonly connectionName?: string;
}

export class RedisConnection<Client extends RedisClient = RedisClient> {
  readonly #options: RedisConnectionOptions;
  readonly #role: RedisConnectionRole;
  #client: Promise<Client> | undefined;
  #ready: Client | undefined;
  #ownsClient = false;
  #lastError: unknown;
  #closed = false;

  constructor(options: RedisConnectionOptions, role: RedisConnectionRole) {
    this.#options = options;
    this.#role = role;
  }

  /** The client once created and its first connection attempt settled: a hot path's shortcut. */
  get ready(): Client | undefined {
    return this.#ready;
  }

  /**
   * Connects (loading ioredis). Rejects when Redis cannot be reached, but keeps retrying in the
   * background, so a caller may go on in a degraded mode.
   */
  async start(): Promise<void> {
    const client = await this.client();
    if (client.status !== 'ready') {
      throw this.#role.unavailable(this.#lastError, `Cannot connect to the ${this.#role.what} (Redis).`);
    }
  }

  /** Readiness: undefined when Redis answers PING, else the reason. */
  async check(): Promise<string | undefined> {
    try {
      await (await this.client()).ping();
      return undefined;
    } catch (error) {
      return `${this.#role.what} (Redis): ${(error as Error).message}`;
    }
  }

  /** The client, created on first use; resolves once its first connection attempt has settled. */
  client(): Promise<Client> {
    if (this.#closed) {
      return Promise.reject(this.#role.unavailable(undefined, `The ${this.#role.what} is closed.`));
    }
    this.#client ??= this.#create();
    return this.#client;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = undefined;
    if (this.#client === undefined || !this.#ownsClient) return;
    const client = await this.#client.catch(() => undefined);
    if (client === undefined) return;
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
    else client.disconnect();
  }

  async #create(): Promise<Client> {
    let client = this.#options.client;
    if (client === undefined) {
      const { Redis } = await import('ioredis');
      const response = this.#options.responseTimeoutMs ?? 1_000;
      const options: RedisOptions = {
        connectTimeout: this.#options.connectTimeoutMs ?? 1_000,
        // Fail fast instead of queueing: an answer that waits for Redis is worse than a degraded one.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        // Reconnect quickly (≤ 1 s apart) so the driver comes back soon after Redis does.
        retryStrategy: (times) => Math.min(times * 100, 1_000),
        enableAutoPipelining: this.#options.autoPipelining ?? true,
        ...(this.#role.connectionName === undefined ? {} : { connectionName: this.#role.connectionName }),
        ...(response > 0 ? { socketTimeout: response } : {}),
      };
      client = new Redis(this.#options.url ?? 'redis://127.0.0.1:6379', options);
      this.#ownsClient = true;
      // Errors surface through the failed commands; without a listener ioredis would print each one.
      client.on('error', (error: unknown) => {
        this.#lastError = error;
      });
    }
    this.#role.define?.(client);
    // Without an offline queue, commands sent before the connection is up fail: wait for the first
    // attempt to settle (either way) so the first commands after start-up are answered.
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
