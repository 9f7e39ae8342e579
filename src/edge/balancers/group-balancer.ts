/**
 * What every algorithm shares: validating and holding the group, the list of available targets,
 * counting eligible targets for a pick, and in-flight counters that survive `setTargets` (with
 * draining of removed targets). Each algorithm extends it and writes `pick` and, when it keeps
 * derived structures (rings, tables, weights), `rebuild`.
 */
import {
  type Balancer,
  type BalancerName,
  isAvailable,
  type PickContext,
  type RequestOutcome,
  type Target,
  validateTargets,
} from './balancer.js';

export abstract class GroupBalancer<T extends Target> implements Balancer<T> {
  abstract readonly name: BalancerName;
  /** The group in the order given (frozen). */
  protected all: readonly T[] = [];
  /** The targets with `available !== false`, in group order. */
  protected available: readonly T[] = [];
  /** Ids of `available`, for counting exclusions in O(|exclude|). */
  protected availableIds: ReadonlySet<string> = new Set();

  setTargets(targets: readonly T[]): void {
    validateTargets(targets);
    this.check(targets);
    const previous = this.all;
    this.all = Object.freeze([...targets]);
    this.available = this.all.filter(isAvailable);
    this.availableIds = new Set(this.available.map((t) => t.id));
    this.rebuild(previous);
  }

  targets(): readonly T[] {
    return this.all;
  }

  abstract pick(context?: PickContext): T | undefined;

  onStart(_target: T): void {}

  onEnd(_target: T, _outcome: RequestOutcome): void {}

  /** Algorithm-specific validation of a new group; throw to refuse it before anything changes. */
  protected check(_targets: readonly T[]): void {}

  /** Recomputes derived state after `all` and `available` changed; `previous` is the old group. */
  protected rebuild(_previous: readonly T[]): void {}

  /** Available targets not in `exclude`. */
  protected eligibleCount(exclude: ReadonlySet<string> | undefined): number {
    let n = this.available.length;
    if (exclude === undefined) return n;
    for (const id of exclude) if (this.availableIds.has(id)) n--;
    return n;
  }
}

/** The mutable per-target record of the load-aware algorithms. */
export interface LoadState {
  inflight: number;
}

/**
 * Per-target load records keyed by id. `align` returns them in group order, reusing each id's
 * record (a health flap keeps the counts), and keeps the records of removed ids while they still
 * have requests in flight (draining): their `onEnd` still lands, and re-adding the id restores them.
 */
export class LoadStates<S extends LoadState> {
  #current = new Map<string, S>();
  readonly #draining = new Map<string, S>();

  constructor(private readonly create: () => S) {}

  align(targets: readonly Target[]): S[] {
    const next = new Map<string, S>();
    const aligned: S[] = [];
    for (const t of targets) {
      let state = this.#current.get(t.id) ?? this.#draining.get(t.id);
      if (state === undefined) state = this.create();
      this.#draining.delete(t.id);
      next.set(t.id, state);
      aligned.push(state);
    }
    for (const [id, state] of this.#current) {
      if (!next.has(id) && state.inflight > 0) this.#draining.set(id, state);
    }
    this.#current = next;
    return aligned;
  }

  get(id: string): S | undefined {
    return this.#current.get(id) ?? this.#draining.get(id);
  }

  start(id: string): S | undefined {
    const state = this.get(id);
    if (state !== undefined) state.inflight++;
    return state;
  }

  /** Counts the end of a request; a draining record is dropped when its last request ends. */
  end(id: string): S | undefined {
    const state = this.get(id);
    if (state === undefined) return undefined;
    if (state.inflight > 0) state.inflight--;
    if (state.inflight === 0) this.#draining.delete(id);
    return state;
  }
}

/** True when both groups have the same ids with the same weights, in the same order. */
export function sameMembership(a: readonly Target[], b: readonly Target[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.id !== b[i]!.id || a[i]!.weight !== b[i]!.weight) return false;
  }
  return true;
}

/**
 * Indices of `targets` sorted by id. The hashing algorithms lay targets out in this order, so their
 * placement depends on the set of targets only, not on the order a config or a DNS answer (which
 * rotates its records) lists them in: every edge node maps a key to the same target.
 */
export function byIdOrder(targets: readonly Target[]): number[] {
  return targets.map((_, i) => i).sort((a, b) => (targets[a]!.id < targets[b]!.id ? -1 : 1));
}
