/**
 * The embedded bus driver: publish/subscribe inside one process. Drivers that share a
 * `MemoryBusHub` see each other's messages, like nodes sharing a Redis; each driver gets a private
 * hub by default, which is all a single-node platform needs.
 *
 * Delivery is asynchronous on purpose: each delivery runs on its own microtask, after `publish`
 * has returned, so code that works here (no handler runs inside `publish`, state changed after
 * `publish` is visible to handlers) also works on the remote drivers. Microtasks run in the order
 * queued, so publishes reach each subscriber in call order.
 *
 * The connection can be broken on purpose (`dropConnection`) to exercise reconnection: the hub
 * forgets the driver's subscriptions, `disconnected` is reported, and on the next macrotask the
 * driver "reconnects" with no subscriptions, as a remote driver does.
 */
import { GroundworkError } from '../../core/errors.js';
import type { BusDriver, BusDriverCapabilities, BusDriverListener } from '../bus-driver.js';

/** The in-process "engine": which drivers subscribe to which channel. */
export class MemoryBusHub {
  readonly #subscribers = new Map<string, Set<MemoryBusDriver>>();

  /** Queues one delivery per subscribed driver; returns how many there were (as Redis PUBLISH does). */
  publish(channel: string, payload: string): number {
    const drivers = this.#subscribers.get(channel);
    if (drivers === undefined) return 0;
    for (const driver of drivers) queueMicrotask(() => driver.deliver(channel, payload));
    return drivers.size;
  }

  /** Number of drivers subscribed to `channel` (each counts once, however many handlers it has). */
  subscriberCount(channel: string): number {
    return this.#subscribers.get(channel)?.size ?? 0;
  }

  add(channel: string, driver: MemoryBusDriver): void {
    let drivers = this.#subscribers.get(channel);
    if (drivers === undefined) {
      drivers = new Set();
      this.#subscribers.set(channel, drivers);
    }
    drivers.add(driver);
  }

  remove(channel: string, driver: MemoryBusDriver): void {
    const drivers = this.#subscribers.get(channel);
    if (drivers === undefined) return;
    drivers.delete(driver);
    if (drivers.size === 0) this.#subscribers.delete(channel);
  }

  removeAll(driver: MemoryBusDriver): void {
    for (const channel of [...this.#subscribers.keys()]) this.remove(channel, driver);
  }
}

export interface MemoryBusDriverOptions {
  /** Share one hub between drivers to connect them. Default: a private hub. */
  hub?: MemoryBusHub;
}

function unavailable(detail: string): GroundworkError {
  return new GroundworkError('BUS_ERR_UNAVAILABLE', { detail });
}

export class MemoryBusDriver implements BusDriver {
  readonly name = 'memory';
  readonly capabilities: BusDriverCapabilities = {
    crossProcess: false,
    maxPayloadBytes: 16 * 1024 * 1024,
    maxChannelBytes: 1024,
  };
  readonly hub: MemoryBusHub;
  readonly #channels = new Set<string>();
  #listener: BusDriverListener | undefined;
  #state: 'new' | 'up' | 'down' | 'closed' = 'new';

  constructor(options: MemoryBusDriverOptions = {}) {
    this.hub = options.hub ?? new MemoryBusHub();
  }

  async open(listener: BusDriverListener): Promise<void> {
    if (this.#state === 'closed') throw unavailable('The bus driver is closed.');
    this.#listener = listener;
    this.#state = 'up';
  }

  publish(channel: string, payload: string): Promise<void> {
    if (this.#state !== 'up') return Promise.reject(unavailable('The in-process bus is not connected.'));
    this.hub.publish(channel, payload);
    return Promise.resolve();
  }

  subscribe(channels: readonly string[]): Promise<void> {
    if (this.#state !== 'up') return Promise.reject(unavailable('The in-process bus is not connected.'));
    for (const channel of channels) {
      this.#channels.add(channel);
      this.hub.add(channel, this);
    }
    return Promise.resolve();
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) {
      this.#channels.delete(channel);
      this.hub.remove(channel, this);
    }
    return Promise.resolve();
  }

  /** Called by the hub. Messages queued before a connection loss or close are not delivered. */
  deliver(channel: string, payload: string): void {
    if (this.#state === 'up' && this.#channels.has(channel)) this.#listener?.message(channel, payload);
  }

  /**
   * Test hook: simulates a lost subscription connection. Subscriptions are forgotten and
   * `disconnected` reported now; `reconnected` follows on the next macrotask (`setImmediate`).
   */
  dropConnection(): void {
    if (this.#state !== 'up') return;
    this.#state = 'down';
    this.#channels.clear();
    this.hub.removeAll(this);
    this.#listener?.disconnected(new Error('connection dropped (test hook)'));
    setImmediate(() => {
      if (this.#state !== 'down') return;
      this.#state = 'up';
      this.#listener?.reconnected();
    });
  }

  async close(): Promise<void> {
    this.#state = 'closed';
    this.#channels.clear();
    this.hub.removeAll(this);
    this.#listener = undefined;
  }
}
