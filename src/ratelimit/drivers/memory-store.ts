import { GroundworkError } from '../../core/errors.js';
import type { AlgorithmStep, RateLimitAlgorithm } from '../algorithms/algorithm.js';
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
   * Most keys held per policy. When a policy's recently used keys reach half of it, the keys not
   * used since the previous time that happened are dropped (an approximate LRU in two generations),
   * which forgets their usage: they get a fresh quota. Default 100 000 (tens of MB at most).
   */
  maxKeys?: number;
  /**
   * How often a timer drops every expired state, in ms; 0 = never (an expired state is still
   * replaced when its key is next used, and the generations bound the rest). Default 60 000. The
   * timer is `unref`ed: it never keeps the process alive. It judges expiry on the takes' clock: the
   * newest `nowMs` seen plus the wall time elapsed since.
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

/** One policy's keys, in two generations: recently used (`current`) and the ones before. */
interface Shard {
  readonly policy: RateLimitPolicy;
  readonly algorithm: RateLimitAlgorithm<unknown>;
  current: Map<string, Entry>;
  previous: Map<string, Entry>;
}

/**
 * The embedded driver: states in per-policy `Map`s, decided by the pure algorithm functions, so it
 * is atomic by construction (a take runs to completion in one tick). Limits are per process
 * (`crossProcess: false`): several nodes need the Redis driver.
 *
 * Memory is bounded twice: a state is dropped once it has expired (it would decide like no state),
 * and at most `maxKeys` keys are kept per policy. Expiry is judged on the takes' own clock, never
 * the wall clock alone, so an injected clock in tests stays consistent. A take does O(1) work:
 * entries are updated in place and nothing is scanned (a `Map` with many deletions is slow to
 * iterate from its start, so there is no per-take cleanup scan).
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly capabilities: RateLimitStoreCapabilities = { crossProcess: false };
  /** By policy tag, so two equal policy objects share state; `#byObject` skips the tag lookup. */
  readonly #shards = new Map<string, Shard>();
  readonly #byObject = new WeakMap<RateLimitPolicy, Shard>();
  #lastShard: Shard | undefined;
  readonly #generationSize: number;
  readonly #slack: number;
  readonly #timer: NodeJS.Timeout | undefined;
  #latestNowMs = 0;
  /** `performance.now()` when `#latestNowMs` was seen. */
  #latestSeenAt = 0;
  #closed = false;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 2) {
      throw new RangeError(`maxKeys must be an integer ≥ 2, got ${options.maxKeys}`);
    }
    this.#generationSize = Math.floor(maxKeys / 2);
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

  /** Keys held now, over all policies (expired ones included until swept). */
  get size(): number {
    let size = 0;
    for (const shard of this.#shards.values()) size += shard.current.size + shard.previous.size;
    return size;
  }

  /** Drops every state expired at `nowMs` (default: the newest `nowMs` seen); returns how many. */
  sweep(nowMs: number = this.#latestNowMs): number {
    let dropped = 0;
    for (const shard of this.#shards.values()) {
      for (const map of [shard.current, shard.previous]) {
        for (const [key, entry] of map) {
          if (entry.expiresAtMs <= nowMs) {
            map.delete(key);
            dropped++;
          }
        }
      }
    }
    return dropped;
  }

  take(key: string, cost: number, nowMs: number, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    if (this.#closed) return Promise.reject(closedError());
    this.#observe(nowMs);
    const shard = this.#shard(policy);
    const entry = this.#entry(shard, key, nowMs);
    const step = shard.algorithm.take(entry?.state, cost, nowMs, policy);
    if (step.commit !== undefined) this.#store(shard, key, entry, step.commit());
    return Promise.resolve(step.decision);
  }

  takeAll(
    key: string,
    cost: number,
    nowMs: number,
    policies: readonly RateLimitPolicy[],
  ): Promise<RateLimitDecision[]> {
    if (this.#closed) return Promise.reject(closedError());
    this.#observe(nowMs);
    const shards = policies.map((policy) => this.#shard(policy));
    const entries = shards.map((shard) => this.#entry(shard, key, nowMs));
    const steps: AlgorithmStep<unknown>[] = shards.map((shard, i) =>
      shard.algorithm.take(entries[i]?.state, cost, nowMs, shard.policy),
    );
    if (steps.every((step) => step.decision.allowed)) {
      for (const [i, shard] of shards.entries()) {
        const commit = steps[i]!.commit;
        if (commit !== undefined) this.#store(shard, key, entries[i], commit());
      }
      return Promise.resolve(steps.map((step) => step.decision));
    }
    // All or nothing: the policies that would have allowed report their uncharged state.
    return Promise.resolve(
      steps.map((step, i) =>
        step.decision.allowed
          ? shards[i]!.algorithm.take(entries[i]?.state, 0, nowMs, shards[i]!.policy).decision
          : step.decision,
      ),
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#shards.clear();
    return Promise.resolve();
  }

  #observe(nowMs: number): void {
    if (nowMs > this.#latestNowMs) {
      this.#latestNowMs = nowMs;
      this.#latestSeenAt = performance.now();
    }
  }

  #shard(policy: RateLimitPolicy): Shard {
    // Most takes repeat the previous policy object: skip even the WeakMap lookup.
    if (policy === this.#lastShard?.policy) return this.#lastShard;
    let shard = this.#byObject.get(policy);
    if (shard === undefined) {
      const tag = policyTag(policy);
      shard = this.#shards.get(tag);
      if (shard === undefined) {
        const algorithm = algorithms[policy.algorithm];
        shard = { policy, algorithm, current: new Map(), previous: new Map() };
        this.#shards.set(tag, shard);
      }
      this.#byObject.set(policy, shard);
    }
    if (shard.policy === policy) this.#lastShard = shard;
    return shard;
  }

  /** The key's live entry (promoted to the current generation), or undefined if none or expired. */
  #entry(shard: Shard, key: string, nowMs: number): Entry | undefined {
    let entry = shard.current.get(key);
    if (entry === undefined) {
      entry = shard.previous.get(key);
      if (entry === undefined) return undefined;
      shard.previous.delete(key);
      this.#insert(shard, key, entry);
    }
    return entry.expiresAtMs <= nowMs ? undefined : entry;
  }

  #store(shard: Shard, key: string, entry: Entry | undefined, state: unknown): void {
    const expiresAtMs = shard.algorithm.expiresAtMs(state, shard.policy) + this.#slack;
    // An expired entry is still in the map (#entry hid it): reuse it rather than allocate.
    const existing = entry ?? shard.current.get(key);
    if (existing !== undefined) {
      existing.state = state;
      existing.expiresAtMs = expiresAtMs;
    } else {
      this.#insert(shard, key, { state, expiresAtMs });
    }
  }

  #insert(shard: Shard, key: string, entry: Entry): void {
    if (shard.current.size >= this.#generationSize) {
      shard.previous = shard.current;
      shard.current = new Map();
    }
    shard.current.set(key, entry);
  }
}

function closedError(): GroundworkError {
  return new GroundworkError('RATELIMIT_ERR_STORE_UNAVAILABLE', {
    detail: 'The rate-limit store is closed.',
  });
}
