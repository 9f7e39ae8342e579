/**
 * Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
 * NSDI 2016, §3.4): a lookup table of `tableSize` (a prime) entries, filled by letting each target
 * claim entries in turn along its own permutation of the table (offset and skip from two hashes of
 * its id). A pick is one modulo and one array read — O(1), no binary search — and the shares are
 * nearly exact (within a few entries of `tableSize × weight / Σ weight`), unlike a ring's ≈ 1/√vnodes
 * spread. The price: changing the group moves slightly more keys than the minimum, and a rebuild is
 * O(tableSize).
 *
 * Weights as in Envoy's weighted Maglev: each round, a target claims an entry only when its
 * accumulated share allows it, so claims are proportional to `weight`. Targets take turns in id
 * order, so the table depends on the set of targets, not on their order. The table is built over the
 * whole group and rebuilt only when ids or weights change: an unavailable or excluded owner is
 * stepped over to the next entry (so only its keys move, and they come back when it recovers). Keep
 * `tableSize` ≥ 100 × the number of targets (the paper's advice); the default 65 537 suits up to
 * ≈650. Keys as in `consistent-hash`: `hashKey`, else the client IP, else random.
 */
import { invalidBalancer, isEligible, type PickContext, type Target } from './balancer.js';
import { byIdOrder, GroupBalancer, sameMembership } from './group-balancer.js';
import { contextHash, murmur3String } from './hash.js';
import type { Random } from './weighted-sampler.js';

export interface MaglevOptions<T extends Target> {
  targets?: readonly T[] | undefined;
  /** Entries of the lookup table: a prime from 7 to 16 777 213; default 65 537. */
  tableSize?: number | undefined;
  /** For picks without any key; default `Math.random`. */
  random?: Random | undefined;
}

const MAX_TABLE_SIZE = 16_777_213;

export class Maglev<T extends Target = Target> extends GroupBalancer<T> {
  readonly name = 'maglev';
  readonly #size: number;
  readonly #random: Random;
  /** Index in `all` of each entry's owner. */
  #table = new Uint32Array(0);

  constructor(options: MaglevOptions<T> = {}) {
    super();
    const size = options.tableSize ?? 65_537;
    if (!Number.isInteger(size) || size < 7 || size > MAX_TABLE_SIZE || !isPrime(size)) {
      throw invalidBalancer(`maglev: tableSize must be a prime from 7 to ${MAX_TABLE_SIZE}`);
    }
    this.#size = size;
    this.#random = options.random ?? Math.random;
    this.setTargets(options.targets ?? []);
  }

  pick(context?: PickContext): T | undefined {
    const exclude = context?.exclude;
    if (this.eligibleCount(exclude) === 0) return undefined;
    const hash = contextHash(context?.hashKey, context?.clientIp) ?? Math.floor(this.#random() * 2 ** 32);
    const table = this.#table;
    const size = this.#size;
    const all = this.all;
    const start = hash % size;
    for (let step = 0; step < size; step++) {
      const target = all[table[(start + step) % size]!]!;
      if (isEligible(target, exclude)) return target;
    }
    return undefined;
  }

  /** How many table entries each target owns, in group order (for tests and metrics). */
  entries(): number[] {
    const counts = new Array<number>(this.all.length).fill(0);
    for (const owner of this.#table) counts[owner]!++;
    return counts;
  }

  protected override check(targets: readonly T[]): void {
    if (targets.length > this.#size) {
      throw invalidBalancer(`maglev: ${targets.length} targets exceed tableSize ${this.#size}`);
    }
  }

  protected override rebuild(previous: readonly T[]): void {
    if (this.#table.length > 0 && sameMembership(previous, this.all)) return;
    const size = this.#size;
    const n = this.all.length;
    if (n === 0) {
      this.#table = new Uint32Array(0);
      return;
    }
    // Filled in id order (contested entries go to whoever comes first): the table then depends on
    // the set of targets, not on the order of the group.
    const order = byIdOrder(this.all);
    const all = order.map((i) => this.all[i]!);
    // Target i's permutation is offset, offset + skip, offset + 2·skip, … (mod size): a full cycle
    // because size is prime. `position[i]` is where it is along it.
    const position = Uint32Array.from(all, (t) => murmur3String(t.id, 0x4d61676c) % size);
    const skip = Uint32Array.from(all, (t) => (murmur3String(t.id, 0x6c657621) % (size - 1)) + 1);
    const maxWeight = Math.max(...all.map((t) => t.weight));
    // Envoy's scheme: a target of weight w claims an entry on the rounds where round × w reaches its
    // running due mark, which then moves up by the largest weight: claims ∝ weight.
    const due = new Float64Array(n);
    // Occupancy in a byte per entry: 64 KiB stays in cache where the 256 KiB owner table would not.
    const taken = new Uint8Array(size);
    const table = new Uint32Array(size);
    let filled = 0;
    for (let round = 1; filled < size; round++) {
      for (let i = 0; i < n && filled < size; i++) {
        if (round * all[i]!.weight < due[i]!) continue;
        due[i]! += maxWeight;
        const step = skip[i]!;
        let c = position[i]!;
        while (taken[c] !== 0) {
          c += step;
          if (c >= size) c -= size;
        }
        taken[c] = 1;
        table[c] = order[i]!;
        c += step;
        position[i] = c >= size ? c - size : c;
        filled++;
      }
    }
    this.#table = table;
  }
}

function isPrime(n: number): boolean {
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
