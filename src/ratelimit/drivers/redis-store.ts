import { createHash } from 'node:crypto';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import { policyTag } from '../rate-limit-policy.js';
import type {
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitStore,
  RateLimitStoreCapabilities,
} from '../rate-limit-store.js';
import { ALGORITHM_CODES, ALGORITHM_LUA, MULTI_POLICY_SCRIPT, singlePolicyScript } from './redis-scripts.js';

export interface RedisRateLimitStoreOptions {
  /** `redis://[user:pass@]host:port[/db]`; ignored when `client` is given. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * An ioredis client to use instead of opening one; it is not closed by `close()`. Configure it to
   * fail fast (`enableOfflineQueue: false`, `maxRetriesPerRequest: 0`) or fail-open/closed waits.
   */
  client?: RedisClient;
  /** Prefix of every key this store writes. Default `gw:rl:`. */
  keyPrefix?: string;
  /** Give up connecting after this many ms. Default 1000. */
  connectTimeoutMs?: number;
  /**
   * A connection that owes replies and receives nothing for this many ms is dropped (its pending
   * takes fail, then it reconnects): a hung or partitioned Redis fails fast. One timer per
   * connection, not per command. Default 1000; 0 = no limit.
   */
  responseTimeoutMs?: number;
  /**
   * Added to every key's expiry (ms): keys outlive the moment their state stops mattering by this
   * much, so clock skew between nodes never drops live state early. Default 1000.
   */
  expirySlackMs?: number;
  /** Send commands issued in the same tick in one write (ioredis auto-pipelining). Default true. */
  autoPipelining?: boolean;
}

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

const MULTI_COMMAND = 'groundworkRateLimitMulti';

function unavailable(
  cause: unknown,
  detail = 'The rate-limit store (Redis) did not answer.',
): GroundworkError {
  return new GroundworkError('RATELIMIT_ERR_STORE_UNAVAILABLE', { detail, cause });
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

/** Reads decision `i` of a script reply: 4 little-endian doubles per policy (see redis-scripts.ts). */
function toDecision(reply: unknown, limit: number, i = 0, count = 1): RateLimitDecision {
  if (!Buffer.isBuffer(reply) || reply.length !== 32 * count) {
    throw unavailable(new Error(`unexpected script reply: ${String(reply)}`));
  }
  const at = 32 * i;
  return {
    allowed: reply.readDoubleLE(at) === 1,
    limit,
    remaining: small(reply.readDoubleLE(at + 8)),
    resetMs: small(reply.readDoubleLE(at + 16)),
    retryAfterMs: small(reply.readDoubleLE(at + 24)),
  };
}

/**
 * `readDoubleLE` returns boxed doubles even for small integers. Stored in a decision, they would
 * turn V8's field representation for every decision object to boxed doubles, memory-store ones
 * included, which measurably halved the memory driver in a process that also used Redis.
 * `| 0` yields a small integer where it fits (the values are non-negative integers).
 */
function small(value: number): number {
  return value <= 0x3fffffff ? value | 0 : value;
}

/**
 * The distributed driver: every decision is one Lua script run atomically in Redis (EVALSHA, with
 * ioredis falling back to EVAL on NOSCRIPT, e.g. after a Redis restart), so one round trip per
 * decision, for one policy or several (`takeAll`). Time is the caller's `nowMs`, passed as an
 * argument, never Redis's clock. Every key gets a PX expiry, so Redis memory is bounded by the
 * active keys.
 *
 * Keys: `<prefix>{<key>}:<policy>:<algorithm>:<limit>:<windowMs>` (the log adds `:sum`); the `{…}`
 * hash tag keeps all of a caller's keys in one Redis Cluster slot so a multi-policy take stays one
 * script.
 *
 * ioredis is imported when the store starts, so the embedded path never loads it. Any Redis failure
 * becomes `RATELIMIT_ERR_STORE_UNAVAILABLE`; the client keeps reconnecting in the background.
 */
export class RedisRateLimitStore implements RateLimitStore, Component {
  readonly name = 'ratelimit-redis';
  readonly capabilities: RateLimitStoreCapabilities = { crossProcess: true };
  readonly #options: RedisRateLimitStoreOptions;
  readonly #prefix: string;
  readonly #slack: number;
  #client: Promise<RedisClient> | undefined;
  /** The client once created and its first connection attempt settled: the hot path's shortcut. */
  #ready: RedisClient | undefined;
  #ownsClient = false;
  readonly #commandByTag = new Map<string, string>();
  readonly #commandByPolicy = new WeakMap<RateLimitPolicy, string>();
  #lastError: unknown;
  #closed = false;

  constructor(options: RedisRateLimitStoreOptions = {}) {
    this.#options = options;
    this.#prefix = options.keyPrefix ?? 'gw:rl:';
    this.#slack = options.expirySlackMs ?? 1_000;
  }

  /**
   * Connects (loading ioredis). Rejects when Redis cannot be reached, but keeps retrying in the
   * background, so a caller may go on in a degraded mode. Takes call it implicitly.
   */
  async start(): Promise<void> {
    const client = await this.#connect();
    if (client.status !== 'ready') {
      throw unavailable(this.#lastError, 'Cannot connect to the rate-limit store (Redis).');
    }
  }

  /** Readiness: undefined when Redis answers PING, else the reason. */
  async check(): Promise<string | undefined> {
    try {
      await (await this.#connect()).ping();
      return undefined;
    } catch (error) {
      return `rate-limit store (Redis): ${(error as Error).message}`;
    }
  }

  /** Keys of one (key, policy): the state and the log's running sum. */
  keysFor(key: string, policy: RateLimitPolicy): [string, string] {
    const base = `${this.#prefix}{${key}}:${policyTag(policy)}`;
    return [base, `${base}:sum`];
  }

  take(key: string, cost: number, nowMs: number, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    const client = this.#ready;
    if (client === undefined) return this.#connect().then(() => this.take(key, cost, nowMs, policy));
    const base = `${this.#prefix}{${key}}:${policyTag(policy)}`;
    const run = (client as unknown as Record<string, ScriptCommand>)[this.#commandFor(client, policy)]!;
    const reply =
      ALGORITHM_LUA[policy.algorithm].keys === 2
        ? run.call(client, base, `${base}:sum`, nowMs, cost)
        : run.call(client, base, nowMs, cost);
    return reply.then(
      (value) => toDecision(value, policy.limit),
      (error: unknown) => {
        throw unavailable(error);
      },
    );
  }

  /**
   * The ioredis command running `policy`'s own script (defined on first use; ioredis sends EVALSHA
   * and falls back to EVAL on NOSCRIPT). Its `…Buffer` variant returns the reply's raw bytes.
   */
  #commandFor(client: RedisClient, policy: RateLimitPolicy): string {
    let name = this.#commandByPolicy.get(policy);
    if (name === undefined) {
      const tag = policyTag(policy);
      name = this.#commandByTag.get(tag);
      if (name === undefined) {
        const lua = singlePolicyScript(policy, this.#slack);
        // Named after the script itself: stores sharing a caller's client never redefine each other's.
        const command = `groundworkRateLimit_${createHash('sha1').update(lua).digest('hex').slice(0, 16)}`;
        client.defineCommand(command, { numberOfKeys: ALGORITHM_LUA[policy.algorithm].keys, lua });
        name = `${command}Buffer`;
        this.#commandByTag.set(tag, name);
      }
      this.#commandByPolicy.set(policy, name);
    }
    return name;
  }

  async takeAll(
    key: string,
    cost: number,
    nowMs: number,
    policies: readonly RateLimitPolicy[],
  ): Promise<RateLimitDecision[]> {
    if (policies.length === 1) return [await this.take(key, cost, nowMs, policies[0]!)];
    const client = await this.#connect();
    const keys = policies.flatMap((policy) => this.keysFor(key, policy));
    const args = policies.flatMap((p) => [ALGORITHM_CODES[p.algorithm], p.limit, p.windowMs]);
    const run = (client as unknown as Record<string, ScriptCommand>)[`${MULTI_COMMAND}Buffer`]!;
    let reply: unknown;
    try {
      reply = await run.call(client, keys.length, ...keys, nowMs, cost, this.#slack, ...args);
    } catch (error) {
      throw unavailable(error);
    }
    return policies.map((policy, i) => toDecision(reply, policy.limit, i, policies.length));
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

  #connect(): Promise<RedisClient> {
    if (this.#closed) return Promise.reject(unavailable(undefined, 'The rate-limit store is closed.'));
    this.#client ??= this.#createClient();
    return this.#client;
  }

  async #createClient(): Promise<RedisClient> {
    let client = this.#options.client;
    if (client === undefined) {
      const { Redis } = await import('ioredis');
      const response = this.#options.responseTimeoutMs ?? 1_000;
      const options: RedisOptions = {
        connectTimeout: this.#options.connectTimeoutMs ?? 1_000,
        // Fail fast instead of queueing: a decision that waits for Redis is worse than a degraded one.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        // Reconnect quickly (≤ 1 s apart) so limits come back soon after Redis does.
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
    client.defineCommand(MULTI_COMMAND, { lua: MULTI_POLICY_SCRIPT });
    // Without an offline queue, commands sent before the connection is up fail: wait for the first
    // attempt to settle (either way) so the first takes after start-up are decided.
    await settled(client);
    if (!this.#closed) this.#ready = client;
    return client;
  }
}
