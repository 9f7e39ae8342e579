/**
 * Weighted random choice in O(1): Vose's alias method (one table built in O(n), then one uniform
 * draw per sample), and the exclusion-aware sampling that random and power-of-two-choices share.
 * The source of randomness is injected so tests can seed it.
 */
import { isEligible, type Target } from './balancer.js';

/** A uniform draw in [0, 1), like `Math.random`. */
export type Random = () => number;

/**
 * A small, fast, seedable generator (mulberry32) for tests and reproducible benchmarks. Not for
 * anything secret.
 */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Vose's alias table over positive weights: `sample` returns index i with probability
 * `weights[i] / Σ weights`, from a single draw.
 */
export class AliasTable {
  readonly size: number;
  readonly #probability: Float64Array;
  readonly #alias: Uint32Array;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.size = n;
    this.#probability = new Float64Array(n);
    this.#alias = new Uint32Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i]!;
    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (weights[i]! * n) / total;
      (scaled[i]! < 1 ? small : large).push(i);
    }
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!;
      const l = large.pop()!;
      this.#probability[s] = scaled[s]!;
      this.#alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      (scaled[l]! < 1 ? small : large).push(l);
    }
    // What is left is 1 up to rounding error.
    for (const i of large) this.#probability[i] = 1;
    for (const i of small) this.#probability[i] = 1;
  }

  sample(random: Random): number {
    const u = random() * this.size;
    const i = Math.min(Math.floor(u), this.size - 1);
    return u - i < this.#probability[i]! ? i : this.#alias[i]!;
  }
}

/** Rejection rounds before `sampleEligible` switches to a linear scan. */
const MAX_REJECTIONS = 8;

/**
 * An index into `targets` drawn with probability proportional to `weights[i]` among the eligible
 * targets other than `skip`; −1 when there is none. `table` is the alias table of `weights`. Rejection sampling keeps the exact conditional distribution and is
 * O(1) while most weight is eligible; after {@link MAX_REJECTIONS} misses it scans (O(n)), which
 * also decides the no-eligible case.
 */
export function sampleEligible(
  targets: readonly Target[],
  weights: Float64Array,
  table: AliasTable,
  random: Random,
  exclude: ReadonlySet<string> | undefined,
  skip = -1,
): number {
  if (targets.length === 0) return -1;
  for (let attempt = 0; attempt < MAX_REJECTIONS; attempt++) {
    const i = table.sample(random);
    if (i !== skip && isEligible(targets[i]!, exclude)) return i;
  }
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    if (i !== skip && isEligible(targets[i]!, exclude)) total += weights[i]!;
  }
  if (total === 0) return -1;
  let r = random() * total;
  let last = -1;
  for (let i = 0; i < targets.length; i++) {
    if (i === skip || !isEligible(targets[i]!, exclude)) continue;
    last = i;
    r -= weights[i]!;
    if (r < 0) return i;
  }
  return last;
}
