/**
 * Round robin: the available targets in turn, ignoring weights (use `weighted-round-robin` for
 * those). O(1) per pick; an excluded target is stepped over, so a pick costs one step per excluded
 * target at most.
 */
import { isEligible, type PickContext, type Target } from './balancer.js';
import { GroupBalancer } from './group-balancer.js';

export interface RoundRobinOptions<T extends Target> {
  targets?: readonly T[] | undefined;
}

export class RoundRobin<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'round-robin';
  #next = 0;

  constructor(options: RoundRobinOptions<T> = {}) {
    super();
    this.setTargets(options.targets ?? []);
  }

  pick(context?: PickContext): T | undefined {
    const list = this.available;
    const n = list.length;
    const exclude = context?.exclude;
    for (let step = 0; step < n; step++) {
      const i = (this.#next + step) % n;
      const target = list[i]!;
      if (isEligible(target, exclude)) {
        this.#next = (i + 1) % n;
        return target;
      }
    }
    return undefined;
  }

  protected override rebuild(): void {
    // Keeps the position: a changed group continues the rotation rather than restarting at the first.
    this.#next = this.available.length === 0 ? 0 : this.#next % this.available.length;
  }
}
