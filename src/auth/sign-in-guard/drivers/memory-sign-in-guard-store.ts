import { GroundworkError } from '../../../core/errors.js';
import {
  type AttemptStep,
  decideAttempt,
  isEmptyState,
  refundAttempt,
  stateExpiresAtMs,
} from '../attempt-backoff.js';
import type {
  BackoffRules,
  GuardKey,
  GuardState,
  GuardVerdict,
  SignInGuardStore,
  SignInGuardStoreCapabilities,
} from '../sign-in-guard-store.js';

export interface MemorySignInGuardStoreOptions {
  /**
   * Most keys held. When the recently used keys reach half of it, the keys not used since the
   * previous time that happened are dropped (an approximate LRU in two generations), which forgets
   * their failures and locks. Default 100 000 (about 10 MB).
   */
  maxKeys?: number;
  /** How often an `unref`ed timer drops expired states, in ms; 0 = never. Default 60 000. */
  sweepIntervalMs?: number;
}

interface Entry {
  state: GuardState;
  /** On the callers' clock: when the state decides like no state. */
  expiresAtMs: number;
}

/**
 * The embedded driver: states in `Map`s, decided by `decideAttempt`; atomic by construction (each
 * operation runs to completion in one tick). Counts are per process (`crossProcess: false`):
 * several nodes need the Redis driver, or an attacker spreads attempts over the nodes.
 *
 * Memory is bounded by expiry (a state is dropped once it decides like no state) and by `maxKeys`.
 * An attacker who submits more distinct emails than `maxKeys / 2` between two uses of a locked key
 * pushes that lock out of memory: size `maxKeys` above the distinct sign-in names expected per lock
 * period, or use Redis (bounded by its memory and key expiry instead).
 */
export class MemorySignInGuardStore implements SignInGuardStore {
  readonly capabilities: SignInGuardStoreCapabilities = { crossProcess: false };
  #current = new Map<string, Entry>();
  #previous = new Map<string, Entry>();
  readonly #generationSize: number;
  readonly #timer: NodeJS.Timeout | undefined;
  #latestNowMs = 0;
  #closed = false;

  constructor(options: MemorySignInGuardStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 2) {
      throw new RangeError(`maxKeys must be an integer ≥ 2, got ${options.maxKeys}`);
    }
    this.#generationSize = Math.floor(maxKeys / 2);
    const interval = options.sweepIntervalMs ?? 60_000;
    if (interval > 0) {
      this.#timer = setInterval(() => this.sweep(), interval);
      this.#timer.unref();
    }
  }

  /** Keys held now (expired ones included until swept). */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  /** Drops every state expired at `nowMs` (default: the newest `nowMs` seen); returns how many. */
  sweep(nowMs: number = this.#latestNowMs): number {
    let dropped = 0;
    for (const map of [this.#current, this.#previous]) {
      for (const [key, entry] of map) {
        if (entry.expiresAtMs <= nowMs) {
          map.delete(key);
          dropped++;
        }
      }
    }
    return dropped;
  }

  /** The key's state at `nowMs`, or undefined when it has none (or it expired): for diagnostics and tests. */
  peek(key: string, nowMs: number): GuardState | undefined {
    const entry = this.#current.get(key) ?? this.#previous.get(key);
    return entry === undefined || entry.expiresAtMs <= nowMs ? undefined : entry.state;
  }

  admit(keys: readonly GuardKey[], nowMs: number): Promise<GuardVerdict[]> {
    if (this.#closed) return Promise.reject(closedError());
    if (nowMs > this.#latestNowMs) this.#latestNowMs = nowMs;
    const steps: AttemptStep[] = keys.map(({ key, rules }) =>
      decideAttempt(this.#get(key, nowMs), nowMs, rules),
    );
    const all = steps.every((step) => step.charged !== undefined);
    for (const [i, step] of steps.entries()) {
      const { key, rules } = keys[i]!;
      if (all) this.#put(key, step.charged!, rules, nowMs);
      else if (step.changed) this.#put(key, step.settled, rules, nowMs);
    }
    return Promise.resolve(steps.map((step) => step.verdict));
  }

  refund({ key, rules }: GuardKey, nowMs: number): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    const next = refundAttempt(this.#get(key, nowMs));
    if (next !== undefined) this.#put(key, next, rules, nowMs);
    return Promise.resolve();
  }

  reset(key: string): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    this.#current.delete(key);
    this.#previous.delete(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#current.clear();
    this.#previous.clear();
    return Promise.resolve();
  }

  /** The key's live state (promoted to the current generation), or undefined if none or expired. */
  #get(key: string, nowMs: number): GuardState | undefined {
    let entry = this.#current.get(key);
    if (entry === undefined) {
      entry = this.#previous.get(key);
      if (entry === undefined) return undefined;
      this.#previous.delete(key);
      this.#insert(key, entry);
    }
    return entry.expiresAtMs <= nowMs ? undefined : entry.state;
  }

  /** Stores `state`, or drops the key when the state already decides like none (as the Lua does). */
  #put(key: string, state: GuardState, rules: BackoffRules, nowMs: number): void {
    const expiresAtMs = stateExpiresAtMs(state, rules);
    if (isEmptyState(state) || expiresAtMs <= nowMs) {
      this.#current.delete(key);
      this.#previous.delete(key);
      return;
    }
    const existing = this.#current.get(key);
    if (existing !== undefined) {
      existing.state = state;
      existing.expiresAtMs = expiresAtMs;
    } else {
      this.#previous.delete(key);
      this.#insert(key, { state, expiresAtMs });
    }
  }

  #insert(key: string, entry: Entry): void {
    if (this.#current.size >= this.#generationSize) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
    this.#current.set(key, entry);
  }
}

function closedError(): GroundworkError {
  return new GroundworkError('AUTH_ERR_GUARD_UNAVAILABLE', { detail: 'The sign-in guard store is closed.' });
}
