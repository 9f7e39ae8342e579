import { createHash } from 'node:crypto';
import type { Redis as RedisClient } from 'ioredis';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import { RedisConnection, type RedisConnectionOptions } from '../../core/redis-connection.js';
import { policyTag } from '../rate-limit-policy.js';
import type {
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitStore,
  RateLimitStoreCapabilities,
} from '../rate-limit-store.js';
import { ALGORITHM_CODES, ALGORITHM_LUA, MULTI_POLICY_SCRIPT, singlePolicyScript } from './redis-scripts.js';

export interface RedisRateLimitStoreOptions extends RedisConnectionOptions {
  /** Prefix of every key this store writes. Default `gw:rl:`. */
  keyPrefix?: string;
  /**
   * Added to every key's expiry (ms): keys outlive the moment their state stops mattering by this
   * much, so clock skew between nodes never drops live state early. Default 1000.
   */
  expirySlackMs?: number;
}

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

const MULTI_COMMAND = 'groundworkRateLimitMulti';

function unavailable(
  cause: unknown,
  detail = 'The rate-limit store (Redis) did not answer.',
): GroundworkError {
  return new GroundworkError('RATELIMIT_ERR_STORE_UNAVAILABLE', { detail, cause });
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
  readonly #connection: RedisConnection;
  readonly #prefix: string;
  readonly #slack: number;
  readonly #commandByTag = new Map<string, string>();
  readonly #commandByPolicy = new WeakMap<RateLimitPolicy, string>();

  constructor(options: RedisRateLimitStoreOptions = {}) {
    this.#connection = new RedisConnection(options, {
      what: 'rate-limit store',
      unavailable,
      define: (client) => client.defineCommand(MULTI_COMMAND, { lua: MULTI_POLICY_SCRIPT }),
    });
    this.#prefix = options.keyPrefix ?? 'gw:rl:';
    this.#slack = options.expirySlackMs ?? 1_000;
  }

  /**
   * Connects (loading ioredis). Rejects when Redis cannot be reached, but keeps retrying in the
   * background, so a caller may go on in a degraded mode. Takes call it implicitly.
   */
  start(): Promise<void> {
    return this.#connection.start();
  }

  /** Readiness: undefined when Redis answers PING, else the reason. */
  check(): Promise<string | undefined> {
    return this.#connection.check();
  }

  /** Keys of one (key, policy): the state and the log's running sum. */
  keysFor(key: string, policy: RateLimitPolicy): [string, string] {
    const base = `${this.#prefix}{${key}}:${policyTag(policy)}`;
    return [base, `${base}:sum`];
  }

  take(key: string, cost: number, nowMs: number, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    const client = this.#connection.ready;
    if (client === undefined)
      return this.#connection.client().then(() => this.take(key, cost, nowMs, policy));
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
    const client = await this.#connection.client();
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

  close(): Promise<void> {
    return this.#connection.close();
  }
}
