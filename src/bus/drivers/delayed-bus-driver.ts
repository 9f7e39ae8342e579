/**
 * Fault injection: a driver wrapper that holds every received message for a while before handing
 * it on, to test what a slow bus does to its consumers (cache invalidation arriving late on another
 * node). Publishing, subscribing and connection events pass through untouched and at once.
 *
 * By default order is kept: a message is delivered at `max(arrival + delay, previous delivery)`,
 * so a random delay adds latency and jitter but never reorders (pub/sub engines do not reorder one
 * publisher's messages either). `preserveOrder: false` gives each message its own timer.
 *
 * @example
 *   const driver = new DelayedBusDriver(new RedisBusDriver({ url }), { delayMs: () => 20 + Math.random() * 80 });
 *   const bus = new Bus({ driver });
 */
import type { BusDriver, BusDriverCapabilities, BusDriverListener } from '../bus-driver.js';

export interface DelayedBusDriverOptions {
  /** Delay per received message, ms: a constant or a function called once per message. */
  delayMs: number | (() => number);
  /** Keep arrival order (see above). Default true. */
  preserveOrder?: boolean;
}

interface Pending {
  readonly at: number;
  readonly channel: string;
  readonly payload: string;
}

export class DelayedBusDriver implements BusDriver {
  readonly name: string;
  readonly capabilities: BusDriverCapabilities;
  readonly inner: BusDriver;
  readonly #delay: () => number;
  readonly #preserveOrder: boolean;
  readonly #queue: Pending[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #head: NodeJS.Timeout | undefined;
  #lastAt = 0;
  #closed = false;

  constructor(inner: BusDriver, options: DelayedBusDriverOptions) {
    this.inner = inner;
    this.name = inner.name;
    this.capabilities = inner.capabilities;
    const delay = options.delayMs;
    this.#delay = typeof delay === 'function' ? delay : () => delay;
    this.#preserveOrder = options.preserveOrder ?? true;
  }

  /** Messages received and not yet handed on. */
  get pending(): number {
    return this.#preserveOrder ? this.#queue.length : this.#timers.size;
  }

  open(listener: BusDriverListener): Promise<void> {
    return this.inner.open({
      message: (channel, payload) => this.#hold(channel, payload, listener),
      disconnected: (cause) => listener.disconnected(cause),
      reconnected: () => listener.reconnected(),
    });
  }

  publish(channel: string, payload: string): Promise<void> {
    return this.inner.publish(channel, payload);
  }

  subscribe(channels: readonly string[]): Promise<void> {
    return this.inner.subscribe(channels);
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    return this.inner.unsubscribe(channels);
  }

  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#head);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#queue.length = 0;
    return this.inner.close();
  }

  #hold(channel: string, payload: string, listener: BusDriverListener): void {
    if (this.#closed) return;
    const delayMs = Math.max(0, this.#delay());
    if (!this.#preserveOrder) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (!this.#closed) listener.message(channel, payload);
      }, delayMs);
      this.#timers.add(timer);
      return;
    }
    const at = Math.max(Date.now() + delayMs, this.#lastAt);
    this.#lastAt = at;
    this.#queue.push({ at, channel, payload });
    if (this.#queue.length === 1) this.#arm(listener);
  }

  /** One timer, for the head of the queue (its `at` is the smallest: the queue is sorted by `at`). */
  #arm(listener: BusDriverListener): void {
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#head = setTimeout(
      () => {
        const now = Date.now();
        while (!this.#closed && this.#queue.length > 0 && this.#queue[0]!.at <= now) {
          const next = this.#queue.shift()!;
          listener.message(next.channel, next.payload);
        }
        if (!this.#closed) this.#arm(listener);
      },
      Math.max(0, head.at - Date.now()),
    );
  }
}
