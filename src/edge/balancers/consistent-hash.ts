/**
 * Consistent hashing on a ring with virtual nodes (Karger et al. 1997; ketama's layout): each
 * target is placed at `vnodesPerWeight × weight` points of a 32-bit ring (MurmurHash3 of
 * `id#n`), and a key goes to the owner of the first point at or after its hash, found by binary
 * search (O(log points)). Removing a target moves only the keys it owned, each to the next point's
 * owner, so they spread over the others; adding one takes ≈ its share, only from the keys now owned
 * by it. More virtual nodes even out the shares: the spread of a share is ≈ 1/√(points per target).
 *
 * The ring depends only on the set of (id, weight) pairs, not on their order (a DNS answer rotates
 * its records), so every edge node agrees. It is built over the whole group and rebuilt only when
 * ids or weights change: an
 * unavailable or excluded owner is stepped over to the next point of another target, which is
 * exactly where its keys would go if it were removed, and they return when it recovers. The ring
 * ignores `weightFactor`, so a slow-start ramp moves no keys.
 *
 * Keys: `hashKey` (a header, cookie or path parameter value the caller extracted), else the client
 * IP (normalised: one host, one key), else a random point.
 */
import { invalidBalancer, isEligible, type PickContext, type Target } from './balancer.js';
import { byIdOrder, GroupBalancer, sameMembership } from './group-balancer.js';
import { contextHash, murmur3String } from './hash.js';
import type { Random } from './weighted-sampler.js';

export interface ConsistentHashOptions<T extends Target> {
  targets?: readonly T[] | undefined;
  /** Ring points per unit of weight; integer ≥ 1, default 160 (ketama's). */
  vnodesPerWeight?: number | undefined;
  /** For picks without any key; default `Math.random`. */
  random?: Random | undefined;
}

/** Ring points at most: 2^21 keeps (hash × 2^21 + owner) exact in a double for one sort. */
export const MAX_RING_POINTS = 2 ** 21;
const OWNER_SPAN = 2 ** 21;

export class ConsistentHash<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'consistent-hash';
  readonly #vnodesPerWeight: number;
  readonly #random: Random;
  /** The ring: point hashes ascending, and the index in `all` of each point's owner. */
  #points = new Uint32Array(0);
  #owners = new Uint32Array(0);

  constructor(options: ConsistentHashOptions<T> = {}) {
    super();
    const vnodes = options.vnodesPerWeight ?? 160;
    if (!Number.isInteger(vnodes) || vnodes < 1) {
      throw invalidBalancer('consistent-hash: vnodesPerWeight must be an integer ≥ 1');
    }
    this.#vnodesPerWeight = vnodes;
    this.#random = options.random ?? Math.random;
    this.setTargets(options.targets ?? []);
  }

  /** Points on the ring. */
  get size(): number {
    return this.#points.length;
  }

  pick(context?: PickContext): T | undefined {
    const exclude = context?.exclude;
    if (this.eligibleCount(exclude) === 0) return undefined;
    const hash = contextHash(context?.hashKey, context?.clientIp) ?? Math.floor(this.#random() * 2 ** 32);
    const points = this.#points;
    const owners = this.#owners;
    const all = this.all;
    const n = points.length;
    const start = firstAtOrAfter(points, hash);
    for (let step = 0; step < n; step++) {
      const target = all[owners[(start + step) % n]!]!;
      if (isEligible(target, exclude)) return target;
    }
    return undefined;
  }

  protected override check(targets: readonly T[]): void {
    let points = 0;
    for (const t of targets) points += t.weight * this.#vnodesPerWeight;
    if (points > MAX_RING_POINTS) {
      throw invalidBalancer(
        `consistent-hash: ${points} ring points (Σ weight × vnodesPerWeight) exceed ${MAX_RING_POINTS}`,
      );
    }
  }

  protected override rebuild(previous: readonly T[]): void {
    if (this.#points.length > 0 && sameMembership(previous, this.all)) return;
    let total = 0;
    for (const t of this.all) total += t.weight * this.#vnodesPerWeight;
    // One numeric sort of hash × 2^21 + rank: by hash, then (for the rare equal hashes) by the
    // owner's rank in id order, so the ring does not depend on the order of the group.
    const order = byIdOrder(this.all);
    const packed = new Float64Array(total);
    let k = 0;
    order.forEach((index, rank) => {
      const t = this.all[index]!;
      const count = t.weight * this.#vnodesPerWeight;
      for (let v = 0; v < count; v++) packed[k++] = murmur3String(`${t.id}#${v}`) * OWNER_SPAN + rank;
    });
    packed.sort();
    this.#points = new Uint32Array(total);
    this.#owners = new Uint32Array(total);
    for (let i = 0; i < total; i++) {
      const hash = Math.floor(packed[i]! / OWNER_SPAN);
      this.#points[i] = hash;
      this.#owners[i] = order[packed[i]! - hash * OWNER_SPAN]!;
    }
  }
}

/** The index of the first point ≥ `hash`, wrapping to 0 past the last one. */
function firstAtOrAfter(points: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}
