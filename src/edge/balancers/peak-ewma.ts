/**
 * Least response time by peak EWMA, Finagle's `PeakEwma` load metric (the one Linkerd's and tower's
 * balancers use): each target's cost is its latency estimate times its in-flight requests plus one,
 * and the cheapest eligible target is picked.
 *
 * - The estimate is a *peak*-sensitive, time-decayed moving average: a sample above it replaces it
 *   at once (a latency spike is believed immediately); a lower one is blended in with weight
 *   1 − e^(−Δt/τ), Δt being the time since the previous sample (an EWMA over an unevenly spaced time
 *   series, Eckner 2012), so the estimate forgets at a rate set by `decayMs` (τ), not by traffic.
 * - When read, the estimate is also decayed toward zero by the time since its last sample (Finagle
 *   does this with `observe(0)`): a target avoided because it was slow becomes cheap again after a
 *   few τ, gets probed, and wins back traffic if it has recovered.
 * - A target with no sample yet costs 0 while idle — it is tried first — and a huge penalty while
 *   its first request is outstanding, so one new target does not take everything before its first
 *   answer.
 * - A failed request counts as at least `failureLatencyMs`, so a target that fails fast does not
 *   look fast and attract all traffic (the "black hole" of least-latency balancers).
 *
 * Weights are ignored: the cost already measures capacity (as in Finagle and Linkerd). Times come
 * from the injected `now()` clock (ms) and the caller's `latencyMs`; nothing here reads the time
 * itself. `selection: 'least'` scans the group (O(n), ties taken in turn); `'p2c'` compares two
 * random eligible targets (O(1), Linkerd's choice), better for large groups and several edge nodes.
 */
import {
  invalidBalancer,
  isEligible,
  type PickContext,
  type RequestOutcome,
  type Target,
} from './balancer.js';
import { GroupBalancer, type LoadState, LoadStates } from './group-balancer.js';
import { AliasTable, type Random, sampleEligible } from './weighted-sampler.js';

export interface PeakEwmaOptions<T extends Target> {
  targets?: readonly T[] | undefined;
  /** Monotonic clock in ms; default `performance.now`. */
  now?: (() => number) | undefined;
  /** τ, the decay time constant of the estimate, in ms; default 10 000 (Finagle's and Linkerd's). */
  decayMs?: number | undefined;
  /** Floor of the latency recorded for a failed request, in ms; default 1 000; 0 turns it off. */
  failureLatencyMs?: number | undefined;
  /** `'least'` (default): cheapest of all, O(n). `'p2c'`: cheaper of two at random, O(1). */
  selection?: 'least' | 'p2c' | undefined;
  /** The uniform source in [0, 1) for `'p2c'`; default `Math.random`. */
  random?: Random | undefined;
}

interface EwmaState extends LoadState {
  /** The estimate in ms as of `stampMs`; meaningful once `sampled`. */
  ewmaMs: number;
  stampMs: number;
  sampled: boolean;
}

/** Cost of a target whose first request is still outstanding (Finagle: `Long.MaxValue >> 16`). */
const PENALTY = 2 ** 47;

export class PeakEwma<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'peak-ewma';
  readonly #now: () => number;
  readonly #decayMs: number;
  readonly #failureLatencyMs: number;
  readonly #p2c: boolean;
  readonly #random: Random;
  readonly #states = new LoadStates<EwmaState>(() => ({
    inflight: 0,
    ewmaMs: 0,
    stampMs: 0,
    sampled: false,
  }));
  /** State per target of `all` (for `'least'`) and of `available` (for `'p2c'`), by position. */
  #aligned: EwmaState[] = [];
  #availableStates: EwmaState[] = [];
  #ones = new Float64Array(0);
  #table = new AliasTable([]);
  /** Where the next scan starts, so ties (e.g. all idle and unsampled) are taken in turn. */
  #cursor = 0;

  constructor(options: PeakEwmaOptions<T> = {}) {
    super();
    this.#now = options.now ?? (() => performance.now());
    this.#decayMs = options.decayMs ?? 10_000;
    this.#failureLatencyMs = options.failureLatencyMs ?? 1_000;
    this.#p2c = (options.selection ?? 'least') === 'p2c';
    this.#random = options.random ?? Math.random;
    if (!(this.#decayMs > 0 && Number.isFinite(this.#decayMs))) {
      throw invalidOption('decayMs must be a finite number > 0');
    }
    if (!(this.#failureLatencyMs >= 0 && Number.isFinite(this.#failureLatencyMs))) {
      throw invalidOption('failureLatencyMs must be a finite number ≥ 0');
    }
    this.setTargets(options.targets ?? []);
  }

  pick(context?: PickContext): T | undefined {
    const exclude = context?.exclude;
    const now = this.#now();
    if (this.#p2c) {
      const list = this.available;
      const a = sampleEligible(list, this.#ones, this.#table, this.#random, exclude);
      if (a < 0) return undefined;
      const b = sampleEligible(list, this.#ones, this.#table, this.#random, exclude, a);
      if (b < 0) return list[a];
      const states = this.#availableStates;
      return list[this.#cost(states[b]!, now) < this.#cost(states[a]!, now) ? b : a];
    }
    const all = this.all;
    const n = all.length;
    let best = -1;
    let bestCost = 0;
    for (let step = 0; step < n; step++) {
      const i = (this.#cursor + step) % n;
      if (!isEligible(all[i]!, exclude)) continue;
      const cost = this.#cost(this.#aligned[i]!, now);
      if (best === -1 || cost < bestCost) {
        best = i;
        bestCost = cost;
      }
    }
    if (best === -1) return undefined;
    this.#cursor = (this.#cursor + 1) % n;
    return all[best];
  }

  override onStart(target: T): void {
    this.#states.start(target.id);
  }

  override onEnd(target: T, outcome: RequestOutcome): void {
    const state = this.#states.end(target.id);
    if (state === undefined) return;
    let sample = Math.max(0, outcome.latencyMs);
    if (!outcome.ok) sample = Math.max(sample, this.#failureLatencyMs);
    const now = this.#now();
    if (!state.sampled || sample > state.ewmaMs) {
      state.ewmaMs = sample;
    } else {
      const w = Math.exp(-Math.max(0, now - state.stampMs) / this.#decayMs);
      state.ewmaMs = state.ewmaMs * w + sample * (1 - w);
    }
    state.stampMs = now;
    state.sampled = true;
  }

  /** The current cost of `id` (what `pick` compares), for metrics and tests; 0 when unknown. */
  cost(id: string): number {
    const state = this.#states.get(id);
    return state === undefined ? 0 : this.#cost(state, this.#now());
  }

  #cost(state: EwmaState, now: number): number {
    if (!state.sampled) return state.inflight === 0 ? 0 : PENALTY + state.inflight;
    const decayed = state.ewmaMs * Math.exp(-Math.max(0, now - state.stampMs) / this.#decayMs);
    return decayed * (state.inflight + 1);
  }

  protected override rebuild(): void {
    this.#aligned = this.#states.align(this.all);
    this.#availableStates = this.available.map((t) => this.#states.get(t.id)!);
    this.#ones = new Float64Array(this.available.length).fill(1);
    this.#table = new AliasTable(this.#ones);
    this.#cursor = this.all.length === 0 ? 0 : this.#cursor % this.all.length;
  }
}

function invalidOption(detail: string) {
  return invalidBalancer(`peak-ewma: ${detail}`);
}
