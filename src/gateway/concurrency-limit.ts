/**
 * Load shedding: at most `max` requests of one route run at once; the excess is refused at once
 * (503 + Retry-After) instead of queueing, so a spike cannot pile up latency and memory.
 */
export class ConcurrencyLimit {
  readonly max: number;
  #inFlight = 0;

  constructor(max: number) {
    this.max = max;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot; false when all are taken. Every true must be paired with one `release`. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.max) return false;
    this.#inFlight++;
    return true;
  }

  release(): void {
    if (this.#inFlight > 0) this.#inFlight--;
  }
}
