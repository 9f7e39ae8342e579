/**
 * Power of two choices on in-flight requests (Mitzenmacher, "The Power of Two Choices in Randomized
 * Load Balancing", 2001; Envoy's least_request and Linkerd's default): draw two distinct eligible
 * targets at random, in proportion to `weight × weightFactor`, and send to the one with fewer
 * in-flight requests per unit of weight; on a tie, the first drawn. The most loaded target of a pair
 * is never chosen, so the worst one in the group is only ever picked when it is the only one
 * eligible; the maximum load stays within O(log log n) of the mean instead of O(log n / log log n)
 * for one random choice. An idle group (every count 0) is served in weight proportion.
 *
 * O(1) per pick (alias-table draws; see `sampleEligible` for exclusions). No shared scan, so it
 * scales to large groups and several edge nodes with stale counts do not herd onto one target.
 */
import { effectiveWeight, type PickContext, type RequestOutcome, type Target } from './balancer.js';
import { GroupBalancer, type LoadState, LoadStates } from './group-balancer.js';
import { AliasTable, type Random, sampleEligible } from './weighted-sampler.js';

export interface PowerOfTwoChoicesOptions<T extends Target> {
  targets?: readonly T[] | undefined;
  /** The uniform source in [0, 1); default `Math.random`. Inject a seeded one in tests. */
  random?: Random | undefined;
}

export class PowerOfTwoChoices<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'power-of-two-choices';
  readonly #random: Random;
  readonly #states = new LoadStates<LoadState>(() => ({ inflight: 0 }));
  /** Load state and effective weight per target of `available`, by position. */
  #aligned: LoadState[] = [];
  #weights = new Float64Array(0);
  #table = new AliasTable([]);

  constructor(options: PowerOfTwoChoicesOptions<T> = {}) {
    super();
    this.#random = options.random ?? Math.random;
    this.setTargets(options.targets ?? []);
  }

  pick(context?: PickContext): T | undefined {
    const list = this.available;
    const exclude = context?.exclude;
    const a = sampleEligible(list, this.#weights, this.#table, this.#random, exclude);
    if (a < 0) return undefined;
    const b = sampleEligible(list, this.#weights, this.#table, this.#random, exclude, a);
    if (b < 0) return list[a];
    const weights = this.#weights;
    const loadA = this.#aligned[a]!.inflight * weights[b]!;
    const loadB = this.#aligned[b]!.inflight * weights[a]!;
    return list[loadB < loadA ? b : a];
  }

  override onStart(target: T): void {
    this.#states.start(target.id);
  }

  override onEnd(target: T, _outcome?: RequestOutcome): void {
    this.#states.end(target.id);
  }

  /** In-flight requests counted for `id` (0 when unknown), for metrics and tests. */
  inflight(id: string): number {
    return this.#states.get(id)?.inflight ?? 0;
  }

  protected override rebuild(): void {
    // Every target keeps its record (unavailable ones still finish requests); `available` indexes it.
    this.#states.align(this.all);
    this.#aligned = this.available.map((t) => this.#states.get(t.id)!);
    this.#weights = Float64Array.from(this.available, effectiveWeight);
    this.#table = new AliasTable(this.#weights);
  }
}
