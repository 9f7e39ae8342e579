/**
 * Least connections, weighted, as nginx's `least_conn` (`ngx_http_upstream_least_conn_module.c`):
 * the eligible target with the fewest in-flight requests per unit of weight (`inflight / weight ×
 * weightFactor`, compared by cross-multiplying); targets tied at that minimum are chosen among by
 * smooth weighted round robin (credits kept per target, as in `weighted-round-robin`). So an idle
 * group (every count 0, e.g. sequential clients) is served in exact weight proportion, and under
 * load each target carries in-flight requests in proportion to its weight.
 *
 * In-flight counts come from `onStart` / `onEnd` and survive `setTargets` (a removed target keeps
 * its count while draining). O(n) per pick with two passes over the group, like nginx: upstream
 * groups are small; for hundreds of targets, `power-of-two-choices` is O(1) and nearly as good
 * (Mitzenmacher 2001).
 */
import {
  effectiveWeight,
  isEligible,
  type PickContext,
  type RequestOutcome,
  type Target,
} from './balancer.js';
import { GroupBalancer, type LoadState, LoadStates } from './group-balancer.js';

export interface LeastConnectionsOptions<T extends Target> {
  targets?: readonly T[] | undefined;
}

interface ConnState extends LoadState {
  /** Smooth weighted round-robin credit, used to break ties. */
  current: number;
}

export class LeastConnections<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'least-connections';
  readonly #states = new LoadStates<ConnState>(() => ({ inflight: 0, current: 0 }));
  /** State and effective weight per target of `all`, by position. */
  #aligned: ConnState[] = [];
  #weights = new Float64Array(0);

  constructor(options: LeastConnectionsOptions<T> = {}) {
    super();
    this.setTargets(options.targets ?? []);
  }

  pick(context?: PickContext): T | undefined {
    const all = this.all;
    const states = this.#aligned;
    const weights = this.#weights;
    const exclude = context?.exclude;
    let best = -1;
    let tied = false;
    for (let i = 0; i < all.length; i++) {
      if (!isEligible(all[i]!, exclude)) continue;
      if (best === -1) {
        best = i;
        continue;
      }
      // inflight_i / w_i vs inflight_best / w_best, without dividing.
      const mine = states[i]!.inflight * weights[best]!;
      const theirs = states[best]!.inflight * weights[i]!;
      if (mine < theirs) {
        best = i;
        tied = false;
      } else if (mine === theirs) {
        tied = true;
      }
    }
    if (best === -1) return undefined;
    if (tied) {
      const first = best;
      const load = states[first]!.inflight;
      const weight = weights[first]!;
      let total = 0;
      for (let i = first; i < all.length; i++) {
        if (!isEligible(all[i]!, exclude)) continue;
        if (states[i]!.inflight * weight !== load * weights[i]!) continue;
        const state = states[i]!;
        state.current += weights[i]!;
        total += weights[i]!;
        if (state.current > states[best]!.current) best = i;
      }
      states[best]!.current -= total;
    }
    return all[best];
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
    this.#aligned = this.#states.align(this.all);
    this.#weights = Float64Array.from(this.all, effectiveWeight);
  }
}
