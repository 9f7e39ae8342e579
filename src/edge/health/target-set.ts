/**
 * The members of one upstream group as the proxy holds them: the active targets the balancer may
 * pick, and the removed ones still draining. Removing a target takes it out of `active` at once (no
 * new picks) while its in-flight requests finish; `onDrained` fires when it may be closed (see
 * `DrainableTarget`). Adding back a target that is still draining calls the drain off and keeps its
 * state (and the proxy's pool for it).
 *
 * `active` is a snapshot array whose identity changes on every membership change (with `version`),
 * so a balancer can rebuild its structures (a hash ring, weights) only when the set changes.
 */
import { DrainableTarget, type DrainResult } from './drain.js';
import { checkNumber } from './options.js';
import { type Scheduler, systemScheduler } from './scheduler.js';

export interface ActiveTarget<T> {
  readonly id: string;
  readonly target: T;
}

export interface TargetSetOptions<T> {
  /** How long a removed target's in-flight requests may run on, in ms. Default 30 000; 0 waits for ever. */
  drainTimeoutMs?: number;
  scheduler?: Scheduler;
  /** A removed target may now be closed (`result.reason` is `idle` or `timeout`). Must not throw. */
  onDrained?: (id: string, target: T, result: DrainResult) => void;
}

interface Entry<T> {
  readonly id: string;
  target: T;
  readonly drain: DrainableTarget;
}

/**
 * @example
 *   const group = new TargetSet<Pool>({ onDrained: (_id, pool, r) => r.reason === 'idle' ? pool.close() : pool.destroy() });
 *   group.update(addresses.map((a) => [a, new Pool(`http://${a}`)]));
 *   const { id } = balancer.pick(group.active);
 *   const release = group.acquire(id); // undefined if it was removed meanwhile
 */
export class TargetSet<T> {
  readonly #drainTimeoutMs: number;
  readonly #scheduler: Scheduler;
  readonly #onDrained: ((id: string, target: T, result: DrainResult) => void) | undefined;
  readonly #entries = new Map<string, Entry<T>>();
  #active: readonly ActiveTarget<T>[] = [];
  #version = 0;

  constructor(options: TargetSetOptions<T> = {}) {
    this.#drainTimeoutMs = checkNumber('TargetSet', 'drainTimeoutMs', options.drainTimeoutMs ?? 30_000, {
      min: 0,
    });
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#onDrained = options.onDrained;
  }

  /** The targets that may be picked, as an immutable snapshot. */
  get active(): readonly ActiveTarget<T>[] {
    return this.#active;
  }

  /** Bumped on every change of `active`. */
  get version(): number {
    return this.#version;
  }

  /** Whether `id` is active (may be picked). */
  has(id: string): boolean {
    return this.#entries.get(id)?.drain.state === 'active';
  }

  /** Targets removed and still draining. */
  draining(): string[] {
    const out: string[] = [];
    for (const entry of this.#entries.values()) if (entry.drain.state === 'draining') out.push(entry.id);
    return out;
  }

  inFlight(id: string): number {
    return this.#entries.get(id)?.drain.inFlight ?? 0;
  }

  /**
   * Adds `id` (or brings it back from draining, keeping its in-flight count; `target` replaces the
   * stored value). Returns false when it was already active.
   */
  add(id: string, target: T): boolean {
    const entry = this.#entries.get(id);
    if (entry?.drain.state === 'active') return false;
    if (entry?.drain.reactivate()) {
      entry.target = target;
    } else {
      this.#entries.set(id, { id, target, drain: new DrainableTarget({ scheduler: this.#scheduler }) });
    }
    this.#rebuild();
    return true;
  }

  /**
   * Takes `id` out of `active` now and drains it. Resolves when it may be closed (or with
   * `reactivated` if it is added back first); undefined when `id` is not active.
   */
  remove(id: string): Promise<DrainResult> | undefined {
    const entry = this.#entries.get(id);
    if (entry?.drain.state !== 'active') return undefined;
    const drained = entry.drain.drain(this.#drainTimeoutMs);
    this.#rebuild();
    return drained.then((result) => {
      if (result.reason !== 'reactivated') {
        // Re-added after the drain ended (a new entry took the id): still close this one.
        if (this.#entries.get(id) === entry) this.#entries.delete(id);
        this.#onDrained?.(id, entry.target, result);
      }
      return result;
    });
  }

  /** Makes the active set exactly `entries`: adds the new ones, drains the missing ones. */
  update(entries: Iterable<readonly [string, T]>): { added: string[]; removed: string[] } {
    const wanted = new Map(entries);
    const added: string[] = [];
    const removed: string[] = [];
    for (const { id } of this.#active) {
      if (!wanted.has(id)) {
        void this.remove(id);
        removed.push(id);
      }
    }
    for (const [id, target] of wanted) if (this.add(id, target)) added.push(id);
    return { added, removed };
  }

  /** Starts a request to `id`: the function that ends it, or undefined when `id` is not active. */
  acquire(id: string): (() => void) | undefined {
    return this.#entries.get(id)?.drain.acquire();
  }

  /** Removes every target and waits until all are drained (shutdown). */
  async drainAll(): Promise<void> {
    const drains = this.#active.map(({ id }) => this.remove(id));
    await Promise.all(drains);
    await Promise.all(
      [...this.#entries.values()].map((entry) =>
        entry.drain.state === 'draining' ? entry.drain.drain(this.#drainTimeoutMs) : undefined,
      ),
    );
  }

  #rebuild(): void {
    const active: ActiveTarget<T>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.drain.state === 'active') active.push({ id: entry.id, target: entry.target });
    }
    this.#active = Object.freeze(active);
    this.#version++;
  }
}
