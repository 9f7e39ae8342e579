import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { GroundworkError } from '../../../core/errors.js';
import type { Component } from '../../../core/lifecycle.js';
import type {
  GuardKey,
  GuardVerdict,
  SignInGuardStore,
  SignInGuardStoreCapabilities,
} from '../sign-in-guard-store.js';
import { ADMIT_SCRIPT, REFUND_SCRIPT, ruleArgs } from './redis-sign-in-guard-scripts.js';

export interface RedisSignInGuardStoreOptions {
  /** `redis://[user:pass@]host:port[/db]`; ignored when `client` is given. Default redis://127.0.0.1:6379. */
  url?: string;
  /** An ioredis client to use instead of opening one; it is not closed by `close()`. */
  client?: RedisClient;
  /** Prefix of every key this store writes. Default `gw:sig:`. */
  keyPrefix?: string;
  /** Give up connecting after this many ms. Default 1000. */
  connectTimeoutMs?: number;
  /** A connection owing replies and receiving nothing this many ms is dropped. Default 1000; 0 = none. */
  responseTimeoutMs?: number;
  /** Added to every key's expiry (ms), so clock skew between nodes never drops live state. Default 1000. */
  expirySlackMs?: number;
}

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

const ADMIT_COMMAND = 'groundworkSignInGuardAdmit';
const REFUND_COMMAND = 'groundworkSignInGuardRefund';
const OUTCOMES: readonly GuardVerdict['outcome'][] = ['admitted', 'delayed', 'locked'];

function unavailable(
  cause: unknown,
  detail = 'The sign-in guard store (Redis) did not answer.',
): GroundworkError {
  return new GroundworkError('AUTH_ERR_GUARD_UNAVAILABLE', { detail, cause });
}

/** Resolves once the client is ready or its connection attempt has failed. */
function settled(client: RedisClient): Promise<void> {
  if (client.status === 'ready' || client.status === 'end') return Promise.resolve();
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

/**
 * The distributed driver: every operation is one Lua script run atomically in Redis (EVALSHA with
 * ioredis's EVAL fallback), so several Groundwork nodes share one count per account and per IP.
 * Time is the caller's `nowMs`, never Redis's clock. Every key has a PX expiry: Redis memory is
 * bounded by the keys with live failures or remembered lockouts.
 *
 * Keys: `<prefix><key>`; `admit` touches the account and the IP key in one script, so on a Redis
 * Cluster both must hash to one slot (not supported yet: the project's Redis drivers use a single
 * node). ioredis is imported when the store starts, so the embedded path never loads it. Any Redis
 * failure becomes `AUTH_ERR_GUARD_UNAVAILABLE`; the client keeps reconnecting in the background.
 */
export class RedisSignInGuardStore implements SignInGuardStore, Component {
  readonly name = 'sign-in-guard-redis';
  readonly capabilities: SignInGuardStoreCapabilities = { crossProcess: true };
  readonly #options: RedisSignInGuardStoreOptions;
  readonly #prefix: string;
  readonly #slack: number;
  #client: Promise<RedisClient> | undefined;
  #ownsClient = false;
  #lastError: unknown;
  #closed = false;

  constructor(options: RedisSignInGuardStoreOptions = {}) {
    this.#options = options;
    this.#prefix = options.keyPrefix ?? 'gw:sig:';
    this.#slack = options.expirySlackMs ?? 1_000;
  }

  /**
   * Connects (loading ioredis). Rejects when Redis cannot be reached, but keeps retrying in the
   * background.
   */
  async start(): Promise<void> {
    const client = await this.#connect();
    if (client.status !== 'ready') {
      throw unavailable(this.#lastError, 'Cannot connect to the sign-in guard store (Redis).');
    }
  }

  /** Readiness: undefined when Redis answers PING, else the reason. */
  async check(): Promise<string | undefined> {
    try {
      await (await this.#connect()).ping();
      return undefined;
    } catch (error) {
      return `sign-in guard store (Redis): ${(error as Error).message}`;
    }
  }

  async admit(keys: readonly GuardKey[], nowMs: number): Promise<GuardVerdict[]> {
    const client = await this.#connect();
    const run = (client as unknown as Record<string, ScriptCommand>)[ADMIT_COMMAND]!;
    let reply: unknown;
    try {
      reply = await run.call(
        client,
        keys.length,
        ...keys.map(({ key }) => this.#prefix + key),
        nowMs,
        this.#slack,
        ...keys.flatMap(({ rules }) => ruleArgs(rules)),
      );
    } catch (error) {
      throw unavailable(error);
    }
    if (!Array.isArray(reply) || reply.length !== 2 * keys.length) {
      throw unavailable(new Error(`unexpected script reply: ${String(reply)}`));
    }
    return keys.map((_, i) => {
      const outcome = OUTCOMES[Number(reply[2 * i])];
      if (outcome === undefined) throw unavailable(new Error(`unexpected outcome: ${String(reply[2 * i])}`));
      return { outcome, retryAfterMs: Number(reply[2 * i + 1]) };
    });
  }

  async refund({ key, rules }: GuardKey, nowMs: number): Promise<void> {
    const client = await this.#connect();
    const run = (client as unknown as Record<string, ScriptCommand>)[REFUND_COMMAND]!;
    try {
      await run.call(client, this.#prefix + key, nowMs, this.#slack, ...ruleArgs(rules));
    } catch (error) {
      throw unavailable(error);
    }
  }

  async reset(key: string): Promise<void> {
    const client = await this.#connect();
    try {
      await client.del(this.#prefix + key);
    } catch (error) {
      throw unavailable(error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#client === undefined || !this.#ownsClient) return;
    const client = await this.#client.catch(() => undefined);
    if (client === undefined) return;
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
    else client.disconnect();
  }

  #connect(): Promise<RedisClient> {
    if (this.#closed) return Promise.reject(unavailable(undefined, 'The sign-in guard store is closed.'));
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
        // Fail fast instead of queueing: a sign-in waiting on Redis is worse than the fail mode's answer.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: (times) => Math.min(times * 100, 1_000),
        ...(response > 0 ? { socketTimeout: response } : {}),
      };
      client = new Redis(this.#options.url ?? 'redis://127.0.0.1:6379', options);
      this.#ownsClient = true;
      // Errors surface through the failed commands; without a listener ioredis would print each one.
      client.on('error', (error: unknown) => {
        this.#lastError = error;
      });
    }
    client.defineCommand(ADMIT_COMMAND, { lua: ADMIT_SCRIPT });
    client.defineCommand(REFUND_COMMAND, { numberOfKeys: 1, lua: REFUND_SCRIPT });
    await settled(client);
    return client;
  }
}
