/**
 * A time-bucketed sliding window of counters (Hystrix/resilience4j-style rolling counts): the window
 * of `windowMs` is cut into `buckets` equal buckets; adding lands in the bucket of `nowMs`, totals
 * cover the current bucket and the `buckets - 1` before it. So the counted span is always within
 * `(nowMs - windowMs, nowMs]` and covers at least `[nowMs - windowMs + bucketMs, nowMs]`: more buckets,
 * a finer edge. Memory is fixed (`buckets × fields` numbers); `add` and `total` are O(1) amortised.
 *
 * A clock that steps back (NTP) is treated as standing still: counts land in the newest bucket.
 */
export class SlidingWindowCounter {
  readonly windowMs: number;
  readonly buckets: number;
  readonly bucketMs: number;
  readonly #fields: number;
  /** counts[slot * fields + field] */
  readonly #counts: Float64Array;
  readonly #totals: Float64Array;
  /** The absolute bucket index (⌊now / bucketMs⌋) of the newest bucket. */
  #current = Number.NEGATIVE_INFINITY;

  constructor(windowMs: number, buckets: number, fields: number) {
    this.windowMs = windowMs;
    this.buckets = buckets;
    this.bucketMs = windowMs / buckets;
    this.#fields = fields;
    this.#counts = new Float64Array(buckets * fields);
    this.#totals = new Float64Array(fields);
  }

  add(nowMs: number, field: number, n = 1): void {
    this.#advance(nowMs);
    const slot = ((this.#current % this.buckets) + this.buckets) % this.buckets;
    this.#counts[slot * this.#fields + field]! += n;
    this.#totals[field]! += n;
  }

  /** The sum of `field` over the window ending at `nowMs`. */
  total(nowMs: number, field: number): number {
    this.#advance(nowMs);
    return this.#totals[field]!;
  }

  /** Forgets every count. */
  clear(): void {
    this.#counts.fill(0);
    this.#totals.fill(0);
  }

  /** Moves the newest bucket to `nowMs`'s, zeroing the buckets that fall out of the window. */
  #advance(nowMs: number): void {
    const index = Math.floor(nowMs / this.bucketMs);
    if (index <= this.#current) return;
    if (index - this.#current >= this.buckets) {
      this.clear();
    } else {
      for (let k = this.#current + 1; k <= index; k++) {
        const base = (((k % this.buckets) + this.buckets) % this.buckets) * this.#fields;
        for (let f = 0; f < this.#fields; f++) {
          this.#totals[f]! -= this.#counts[base + f]!;
          this.#counts[base + f] = 0;
        }
      }
    }
    this.#current = index;
  }
}
