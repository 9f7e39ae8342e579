/**
 * Random: each pick draws a target with probability proportional to `weight × weightFactor` among
 * the eligible ones, in O(1) (an alias table rebuilt on `setTargets`). No state between picks, so
 * several edge nodes need no coordination; the spread is binomial, not exact like round robin.
 */
import { effectiveWeight, type PickContext, type Target } from './balancer.js';
import { GroupBalancer } from './group-balancer.js';
import { AliasTable, type Random, sampleEligible } from './weighted-sampler.js';

export interface RandomOptions<T extends Target> {
  targets?: readonly T[] | undefined;
  /** The uniform source in [0, 1); default `Math.random`. Inject a seeded one in tests. */
  random?: Random | undefined;
}

export class RandomBalancer<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'random';
  readonly #random: Random;
  #weights = new Float64Array(0);
  #table = new AliasTable([]);

  constructor(options: RandomOptions<T> = {}) {
    super();
    this.#random = options.random ?? Math.random;
    this.setTargets(options.targets ?? []);
  }

  pick(context?: PickContext): T | undefined {
    const i = sampleEligible(this.available, this.#weights, this.#table, this.#random, context?.exclude);
    return i < 0 ? undefined : this.available[i];
  }

  protected override rebuild(): void {
    this.#weights = Float64Array.from(this.available, effectiveWeight);
    this.#table = new AliasTable(this.#weights);
  }
}
