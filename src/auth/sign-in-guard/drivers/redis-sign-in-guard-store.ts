import { GroundworkError } from '../../../core/errors.js';
import type { Component } from '../../../core/lifecycle.js';
import { RedisConnection, type RedisConnectionOptions } from '../../../core/redis-connection.js';
import type {
  GuardKey,
  GuardVerdict,
  SignInGuardStore,
  SignInGuardStoreCapabilities,
} from '../sign-in-guard-store.js';
import { ADMIT_SCRIPT, REFUND_SCRIPT, ruleArgs } from './redis-sign-in-guard-scripts.js';

export interface RedisSignInGuardStoreOptions extends RedisConnectionOptions {
  /** Prefix of every key this store writes. Default `gw:sig:`. */
  keyPrefix?: string;
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
  readonly #connection: RedisConnection;
  readonly #prefix: string;
  readonly #slack: number;

  constructor(options: RedisSignInGuardStoreOptions = {}) {
    this.#connection = new RedisConnection(options, {
      what: 'sign-in guard store',
      unavailable,
      define: (client) => {
        client.defineCommand(ADMIT_COMMAND, { lua: ADMIT_SCRIPT });
        client.defineCommand(REFUND_COMMAND, { numberOfKeys: 1, lua: REFUND_SCRIPT });
      },
    });
    this.#prefix = options.keyPrefix ?? 'gw:sig:';
    this.#slack = options.expirySlackMs ?? 1_000;
  }

  /**
   * Connects (loading ioredis). Rejects when Redis cannot be reached, but keeps retrying in the
   * background.
   */
  start(): Promise<void> {
    return this.#connection.start();
  }

  /** Readiness: undefined when Redis answers PING, else the reason. */
  check(): Promise<string | undefined> {
    return this.#connection.check();
  }

  async admit(keys: readonly GuardKey[], nowMs: number): Promise<GuardVerdict[]> {
    const client = await this.#connection.client();
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
    const client = await this.#connection.client();
    const run = (client as unknown as Record<string, ScriptCommand>)[REFUND_COMMAND]!;
    try {
      await run.call(client, this.#prefix + key, nowMs, this.#slack, ...ruleArgs(rules));
    } catch (error) {
      throw unavailable(error);
    }
  }

  async reset(key: string): Promise<void> {
    const client = await this.#connection.client();
    try {
      await client.del(this.#prefix + key);
    } catch (error) {
      throw unavailable(error);
    }
  }

  close(): Promise<void> {
    return this.#connection.close();
  }
}
