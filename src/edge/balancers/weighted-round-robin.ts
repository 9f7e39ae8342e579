/**
 * Smooth weighted round robin, exactly nginx's (`ngx_http_upstream_get_peer` in
 * `ngx_http_upstream_round_robin.c`): every pick adds each eligible target's effective weight to its
 * `current` credit, takes the target with the largest credit (the first one in group order on a tie)
 * and subtracts the sum of the eligible weights from it. Over any window of Σw picks each target is
 * picked exactly w times, spread out rather than in bursts: weights {a: 5, b: 1, c: 1} give
 * `a a b a c a a` (nginx's own comment on the algorithm).
 *
 * As in nginx, unavailable and excluded targets sit the round out (no credit, not in the sum), and
 * the effective weight is `weight × weightFactor` (nginx lowers `effective_weight` after failures;
 * here the health layer does that through `weightFactor`). Credits are kept per id across
 * `setTargets`. O(n) per pick, inherent to the algorithm (nginx and Envoy's WRR variants alike):
 * upstream groups are small; `random` or `power-of-two-choices` are O(1) for large ones.
 */
import { effectiveWeight, isEligible, type PickContext, type Target } from './balancer.js';
import { GroupBalancer } from './group-balancer.js';

export interface WeightedRoundRobinOptions<T extends Target> {
  targets?: readonly T[] | undefined;
}

export class WeightedRoundRobin<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'weighted-round-robin';
  /** `current` credit per target of `all`, by position. */
  #current = new Float64Array(0);
  #weights = new Float64Array(0);

  constructor(options: WeightedRoundRobinOptions<T> = {}) {
    super();
    this.setTargets(options.targets ?? []);
  }

  pick(context?: PickContext): T | undefined {
    const all = this.all;
    const exclude = context?.exclude;
    const current = this.#current;
    const weights = this.#weights;
    let best = -1;
    let total = 0;
    for (let i = 0; i < all.length; i++) {
      if (!isEligible(all[i]!, exclude)) continue;
      const w = weights[i]!;
      current[i]! += w;
      total += w;
      if (best === -1 || current[i]! > current[best]!) best = i;
    }
    if (best === -1) return undefined;
    current[best]! -= total;
    return all[best];
  }

  protected override rebuild(previous: readonly T[]): void {
    const old = new Map<string, number>();
    previous.forEach((t, i) => {
      old.set(t.id, this.#current[i]!);
    });
    this.#current = Float64Array.from(this.all, (t) => old.get(t.id) ?? 0);
    this.#weights = Float64Array.from(this.all, effectiveWeight);
  }
}
