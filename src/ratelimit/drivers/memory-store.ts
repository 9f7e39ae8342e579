import { GroundworkError } from '../../core/errors.js';
import type { AlgorithmStep } from '../algorithms/algorithm.js';
import { algorithms } from '../algorithms/index.js';
import { policyTag } from '../rate-limit-policy.js';
import type {
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitStore,
  RateLimitStoreCapabilities,
} from '../rate-limit-store.js';

export interface MemoryRateLimitStoreOptions {
  /**
   * Most (policy, key) states held; beyond it the least recently used is dropped, which forgets
   * that key's usage (it gets a fresh quota). Default 100 000 (a few tens of MB at most).
   */
  maxKeys?: number;
  /**
   * How often a timer drops every expired state, in ms; 0 = never (expired states are still dropped
   * when their key is next used, and a few per take from the least recently used end). Default
   * 60 000. The timer is `unref`ed: it never keeps the process alive. It judges expiry on the takes'
   * clock: the newest `nowMs` seen plus the wall time elapsed since.
   */
  sweepIntervalMs?: number;
  /**
   * States are kept this many ms past the moment they stop mattering, like the Redis driver's keys,
   * so a clock stepped back a little (NTP) still finds them. Default 1000.
   */
  expirySlackMs?: number;
}

interface Entry {
  state: unknown;
  /** Same clock as the takes' `nowMs`: when the state stops mattering, plus the slack. */
  expiresAtMs: number;
}

/** Expired entries examined from the least-recently-used end on every take (amortised cleanup). */
const SWEEP_PER_TAKE = 2;

/**
 * The embedded driver: states in one `Map` in least-recently-used order, decided by the pure
 * algorithm functions, so it is atomic by construction (a take runs to completion in one tick).
 * Limits are per process (`crossProcess: false`): several nodes need the Redis driver.
 *
 * Memory is bounded twice: a state is dropped once it has expired (it would decide like no state),
 * and at most `maxKeys` states are kept. Expiry is judged on the takes' own clock (the newest
 * `nowMs` seen), never on the wall clock, so an injected clock in tests stays consistent.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly capabilities: RateLimitStoreCapabilities = { crossProcess: false };
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;
  readonly #slack: number;
  readonly #timer: NodeJS.Timeout | undefined;
  #latestNowMs = 0;
  /** `performance.now()` when `#latestNowMs` was seen. */
  #latestSeenAt = 0;
  #closed = false;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isSafeInteger(this.#maxKeys) || this.#maxKeys < 1) {
      throw new RangeError(`maxKeys must be an integer ≥ 1, got ${options.maxKeys}`);
    }
    this.#slack = options.expirySlackMs ?? 1_000;
    const interval = options.sweepIntervalMs ?? 60_000;
    if (interval > 0) {
      this.#timer = setInterval(
        () => this.sweep(this.#latestNowMs + Math.floor(performance.now() - this.#latestSeenAt)),
        interval,
      );
      this.#timer.unref();
    }
  }

  /** States held now (expired ones included until swept). */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops every state expired at `nowMs` (default: the newest `nowMs` seen); returns how many. */
  sweep(nowMs: number = this.#latestNowMs): number {
    let dropped = 0;
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAtMs <= nowMs) {
        this.#entries.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  take(key: string, cost: number, nowMs: number, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    try {
      return Promise.resolve(this.#takeAll(key, cost, nowMs, [policy])[0]!);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  takeAll(
    key: string,
    cost: number,
    nowMs: number,
    policies: readonly RateLimitPolicy[],
  ): Promise<RateLimitDecision[]> {
    try {
      return Promise.resolve(this.#takeAll(key, cost, nowMs, policies));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #takeAll(
    key: string,
    cost: number,
    nowMs: number,
    policies: readonly RateLimitPolicy[],
  ): RateLimitDecision[] {
    if (this.#closed) {
      throw new GroundworkError('RATELIMIT_ERR_STORE_UNAVAILABLE', {
        detail: 'The rate-limit store is closed.',
      });
    }
    if (nowMs > this.#latestNowMs) {
      this.#latestNowMs = nowMs;
      this.#latestSeenAt = performance.now();
    }
    this.#sweepSome(nowMs);
    const ids: string[] = [];
    const states: unknown[] = [];
    const steps: AlgorithmStep<unknown>[] = [];
    let allAllowed = true;
    for (const policy of policies) {
      const id = `${policyTag(policy)}\u0000${key}`;
      const entry = this.#entries.get(id);
      let state: unknown;
      if (entry !== undefined) {
        if (entry.expiresAtMs <= nowMs) this.#entries.delete(id);
        else state = entry.state;
      }
      const step = algorithms[policy.algorithm].take(state, cost, nowMs, policy);
      if (!step.decision.allowed) allAllowed = false;
      ids.push(id);
      states.push(state);
      steps.push(step);
    }
    if (!allAllowed) {
      // All or nothing: report the policies that would have allowed as they stand, uncharged.
      return policies.map((policy, i) =>
        steps[i]!.decision.allowed
          ? algorithms[policy.algorithm].take(states[i], 0, nowMs, policy).decision
          : steps[i]!.decision,
      );
    }
    for (const [i, policy] of policies.entries()) {
      const commit = steps[i]!.commit;
      if (commit === undefined) continue;
      const state = commit();
      const id = ids[i]!;
      // Delete then set: moves the key to the most-recently-used end of the Map's order.
      this.#entries.delete(id);
      const expiresAtMs = algorithms[policy.algorithm].expiresAtMs(state, policy) + this.#slack;
      this.#entries.set(id, { state, expiresAtMs });
    }
    while (this.#entries.size > this.#maxKeys) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    return steps.map((step) => step.decision);
  }

  /** Amortised cleanup: the least recently used entries are the likeliest to have expired. */
  #sweepSome(nowMs: number): void {
    let checked = 0;
    for (const [id, entry] of this.#entries) {
      if (checked++ >= SWEEP_PER_TAKE || entry.expiresAtMs > nowMs) return;
      this.#entries.delete(id);
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#entries.clear();
    return Promise.resolve();
  }
}
