/**
 * Per-collection generation numbers: the part of every cached read's key that a write changes.
 * A write bumps the generation of each collection it touched after its commit and before its
 * response; a read fetches the generations of the collections its result depends on and builds its
 * key from them, so no read that starts after the acknowledgement can find an entry stored under
 * an older generation (the argument is in docs/architecture.md, "Caching record reads").
 *
 * Two stores: in process (`MemoryGenerationStore`, for one node on the embedded defaults) and Redis
 * (`RedisGenerationStore`, shared by every node). Numbers only ever grow, even across a Redis that
 * lost its data: a missing counter starts from the engine's clock in µs, which is above any value
 * a counter could have reached earlier by counting writes (at most one per µs).
 */
import type { Component } from '../../core/lifecycle.js';

/** The port. Rejections are `CACHE_ERR_STORE_UNAVAILABLE`. */
export interface GenerationStore extends Component {
  /** Every node sees the same numbers (Redis: yes; in process: no). */
  readonly shared: boolean;
  /** The current generation of each collection, in order (a new collection gets one). */
  read(collections: readonly string[]): Promise<number[]>;
  /** Increments the generation of each collection; resolves the new numbers, in order. */
  bump(collections: readonly string[]): Promise<number[]>;
}

/** Generations in this process: for a platform that runs alone (memory cache, memory bus). */
export class MemoryGenerationStore implements GenerationStore {
  readonly name = 'cache-generations';
  readonly shared = false;
  readonly #numbers = new Map<string, number>();
  readonly #base: number;

  constructor(clock: () => number = Date.now) {
    this.#base = Math.floor(clock()) * 1_000;
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}

  read(collections: readonly string[]): Promise<number[]> {
    return Promise.resolve(collections.map((name) => this.#numbers.get(name) ?? this.#base));
  }

  bump(collections: readonly string[]): Promise<number[]> {
    return Promise.resolve(
      collections.map((name) => {
        const next = (this.#numbers.get(name) ?? this.#base) + 1;
        this.#numbers.set(name, next);
        return next;
      }),
    );
  }
}
