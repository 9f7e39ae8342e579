/**
 * IP hash, like nginx's `ip_hash`: the client address picks a target by hash, in proportion to
 * `weight`, so a client keeps its target while the group is unchanged. The address is normalised
 * first (`ip-address.ts`: IPv4 = IPv4-mapped IPv6, any IPv6 spelling) and can be cut to a prefix
 * (`ipv4PrefixLength: 24` is nginx's behaviour; `ipv6PrefixLength: 64` keeps a client whose
 * privacy addresses rotate within its /64 on one target).
 *
 * The hash ranges over every target of the group, available or not, as nginx does (laid out in id
 * order, so the group's order, e.g. a rotating DNS answer, does not matter): when a target
 * goes unavailable or is excluded, only its clients move (each rehashed up to 20 times, then the
 * next eligible target in id order), and they come back when it recovers. Adding or removing a
 * target remaps most clients (the hash is modulo the total weight); for minimal movement use
 * `consistent-hash` or `maglev` keyed by the client IP. O(log n) per pick (binary search on the
 * weight prefix sums); the hashing ignores `weightFactor` so a slow-start ramp does not remap.
 *
 * A missing `clientIp` falls back to `hashKey`, then to a random target; a value that is not an IP
 * address is hashed as text.
 */
import { invalidBalancer, isEligible, type PickContext, type Target } from './balancer.js';
import { byIdOrder, GroupBalancer } from './group-balancer.js';
import { murmur3Bytes, murmur3String } from './hash.js';
import { ipBytes, maskPrefix } from './ip-address.js';
import type { Random } from './weighted-sampler.js';

export interface IpHashOptions<T extends Target> {
  targets?: readonly T[] | undefined;
  /** Leading bits of an IPv4 address that are hashed; default 32 (nginx hashes 24). */
  ipv4PrefixLength?: number | undefined;
  /** Leading bits of an IPv6 address that are hashed; default 128. */
  ipv6PrefixLength?: number | undefined;
  /** For picks without any key; default `Math.random`. */
  random?: Random | undefined;
}

/** nginx's `ip_hash` gives up rehashing after 20 tries too. */
const REHASHES = 20;

export class IpHash<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'ip-hash';
  readonly #v4Prefix: number;
  readonly #v6Prefix: number;
  readonly #random: Random;
  readonly #bytes = new Uint8Array(16);
  /** Targets (indices in `all`) in id order, and `#ends[r]` = Σ weight of the first r + 1 of them. */
  #order: number[] = [];
  #ends = new Uint32Array(0);

  constructor(options: IpHashOptions<T> = {}) {
    super();
    this.#v4Prefix = prefixOption(options.ipv4PrefixLength, 32, 'ipv4PrefixLength');
    this.#v6Prefix = prefixOption(options.ipv6PrefixLength, 128, 'ipv6PrefixLength');
    this.#random = options.random ?? Math.random;
    this.setTargets(options.targets ?? []);
  }

  /** The 32-bit hash `pick` uses for a client address (normalised and masked). */
  hashIp(ip: string): number {
    const length = ipBytes(ip, this.#bytes);
    if (length === 0) return murmur3String(ip);
    maskPrefix(this.#bytes, length, length === 4 ? this.#v4Prefix : this.#v6Prefix);
    return murmur3Bytes(this.#bytes, 0, length);
  }

  pick(context?: PickContext): T | undefined {
    const exclude = context?.exclude;
    if (this.eligibleCount(exclude) === 0) return undefined;
    const all = this.all;
    let hash: number;
    if (context?.clientIp !== undefined) hash = this.hashIp(context.clientIp);
    else if (context?.hashKey !== undefined) hash = murmur3String(context.hashKey);
    else hash = Math.floor(this.#random() * 2 ** 32);
    const total = this.#ends[this.#ends.length - 1]!;
    const order = this.#order;
    let rank = 0;
    for (let attempt = 0; attempt <= REHASHES; attempt++) {
      rank = this.#rankOf(hash % total);
      const target = all[order[rank]!]!;
      if (isEligible(target, exclude)) return target;
      hash = rehash(hash, attempt);
    }
    for (let step = 1; step < order.length; step++) {
      const target = all[order[(rank + step) % order.length]!]!;
      if (isEligible(target, exclude)) return target;
    }
    return undefined;
  }

  /** The rank (in id order) of the target whose weight range holds `point` (0 ≤ point < total). */
  #rankOf(point: number): number {
    const ends = this.#ends;
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! > point) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  protected override rebuild(): void {
    this.#order = byIdOrder(this.all);
    this.#ends = new Uint32Array(this.all.length);
    let sum = 0;
    this.#order.forEach((index, rank) => {
      sum += this.all[index]!.weight;
      this.#ends[rank] = sum;
    });
  }
}

/** A new well-mixed 32-bit hash from the previous one (murmur3's finaliser on h + a constant). */
function rehash(hash: number, attempt: number): number {
  let h = (hash + Math.imul(attempt + 1, 0x9e3779b9)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function prefixOption(value: number | undefined, max: number, name: string): number {
  if (value === undefined) return max;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw invalidBalancer(`ip-hash: ${name} must be an integer from 0 to ${max}`);
  }
  return value;
}
