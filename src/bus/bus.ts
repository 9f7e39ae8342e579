/**
 * The portable bus, written once around any `BusDriver`: topic validation, the JSON envelope and its
 * size bound, one engine subscription per topic fanned out in process to any number of handlers,
 * handler isolation, duplicate suppression, resubscription after a reconnect, and metrics.
 *
 * Delivery guarantees (every driver):
 * - **At most once.** A message published while a subscriber's connection is down is lost for that
 *   subscriber; nothing is replayed. `onReconnect` fires after every topic is subscribed again, so
 *   state that may have missed messages (a cache) can be dropped then. Durable delivery is the
 *   outbox's job (read `seq > n` to catch up), not the bus's.
 * - **Never twice per publish** to one subscription: one engine subscription per topic per bus, and
 *   a received id that was already delivered is dropped (a publish resent by a client library after
 *   a connection loss would otherwise arrive twice).
 * - **Ordered per publisher per topic**: messages one bus publishes on a topic reach each handler in
 *   the order of the `publish` calls. Nothing is promised across publishers or topics.
 * - **Asynchronous**: a handler never runs inside `publish`, even on the memory driver.
 *
 * While a node's subscription connection is down, per driver: memory (only through the
 * `dropConnection` test hook) and Redis lose what is published in the gap; PostgreSQL the same
 * (NOTIFY reaches only sessions listening at commit). Publishing fails fast with
 * `BUS_ERR_UNAVAILABLE` while the publishing connection is down; it is never queued.
 *
 * No pattern or prefix subscriptions: PostgreSQL LISTEN takes exact channel names only, and the
 * port offers only what every driver can honour. Subscribe to each topic, or publish coarser ones.
 */
import { randomUUID } from 'node:crypto';
import { GroundworkError, isGroundworkError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { BusDriver, BusDriverListener } from './bus-driver.js';
import {
  type BusMessageMeta,
  decodeEnvelope,
  encodeEnvelope,
  payloadBytes,
  validateChannelPrefix,
  validateTopic,
} from './bus-envelope.js';
import { type BoundBusMetrics, boundBusMetrics, type DropReason } from './bus-metrics.js';

export type { BusMessageMeta } from './bus-envelope.js';

/** Receives one message. Its throw or rejection is logged and counted, never propagated. */
export type BusHandler<T = unknown> = (message: T, meta: BusMessageMeta) => void | Promise<void>;

/** Stops one subscription at once (no later call of its handler); idempotent. */
export type Unsubscribe = () => void;

export interface SubscribeOptions {
  /** Skip messages this bus (this node) published. Default false. */
  ignoreOwn?: boolean;
}

export interface BusOptions {
  driver: BusDriver;
  /** Identifies this node in every envelope it publishes (`meta.origin`). Default: a random UUID. */
  nodeId?: string;
  /** Prepended to every topic to form the engine channel: isolates apps sharing an engine. Default `gw:`. */
  channelPrefix?: string;
  /**
   * Largest envelope (message JSON plus about 150 bytes of metadata) in UTF-8 bytes; larger
   * publishes are refused with `BUS_ERR_MESSAGE_TOO_LARGE`. Default 65536; lowered to the driver's
   * limit (PostgreSQL: 7999). Publish ids, not documents.
   */
  maxMessageBytes?: number;
  /** Message ids remembered to drop duplicate deliveries. Default 10000; 0 = no duplicate check. */
  duplicateWindow?: number;
  logger?: Logger;
  /** Registry for the `bus_*` metrics (labelled by driver). */
  metrics?: Metrics;
  /** ms since the epoch, for `publishedAt` and delivery delay. Default `Date.now`. */
  clock?: () => number;
}

/** Running totals since the bus was created. */
export interface BusCounters {
  published: number;
  /** Handler invocations. */
  delivered: number;
  handlerErrors: number;
  /** Reconnections completed (topics resubscribed, `onReconnect` called). */
  reconnects: number;
  malformed: number;
  duplicates: number;
}

interface Subscription {
  readonly handler: BusHandler<never>;
  readonly ignoreOwn: boolean;
}

interface TopicEntry {
  readonly subscriptions: Set<Subscription>;
  /** Settles when the engine subscription is active (or failed). */
  ready: Promise<void>;
}

const DEFAULT_MAX_MESSAGE_BYTES = 65_536;
const RESUBSCRIBE_RETRY_MS = [100, 250, 500, 1_000, 2_000];

function unavailable(cause: unknown, detail: string): GroundworkError {
  if (isGroundworkError(cause)) return cause;
  return new GroundworkError('BUS_ERR_UNAVAILABLE', { detail, cause });
}

/**
 * @example
 *   const bus = new Bus({ driver: new RedisBusDriver({ url: 'redis://127.0.0.1:6379' }), metrics });
 *   await bus.start();
 *   const stop = await bus.subscribe<{ collection: string }>('data.changes', (change, meta) => {
 *     cache.dropCollection(change.collection);
 *   });
 *   bus.onReconnect(() => cache.clear()); // invalidations may have been missed while down
 *   await bus.publish('data.changes', { collection: 'posts' });
 *   stop();
 */
export class Bus implements Component {
  readonly name = 'bus';
  readonly driver: BusDriver;
  readonly nodeId: string;
  readonly channelPrefix: string;
  readonly maxMessageBytes: number;
  /** Longest topic this bus accepts (the driver's channel limit minus the prefix). */
  readonly maxTopicBytes: number;
  readonly #logger: Logger | undefined;
  readonly #clock: () => number;
  readonly #metrics: BoundBusMetrics | undefined;
  readonly #duplicateWindow: number;
  readonly #recentIds = new Set<string>();
  readonly #topics = new Map<string, TopicEntry>();
  readonly #reconnectListeners = new Set<() => void | Promise<void>>();
  readonly #disconnectListeners = new Set<() => void>();
  readonly #counters: BusCounters = {
    published: 0,
    delivered: 0,
    handlerErrors: 0,
    reconnects: 0,
    malformed: 0,
    duplicates: 0,
  };
  #opening: Promise<void> | undefined;
  #open = false;
  #connected = false;
  #closed = false;
  /** Bumped on every connection change: a resubscription of an older epoch is abandoned. */
  #epoch = 0;

  constructor(options: BusOptions) {
    this.driver = options.driver;
    this.nodeId = options.nodeId ?? randomUUID();
    this.channelPrefix = options.channelPrefix ?? 'gw:';
    validateChannelPrefix(this.channelPrefix);
    const driverMax = this.driver.capabilities.maxPayloadBytes;
    this.maxMessageBytes = Math.min(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, driverMax);
    this.maxTopicBytes = Math.min(200, this.driver.capabilities.maxChannelBytes - this.channelPrefix.length);
    this.#duplicateWindow = options.duplicateWindow ?? 10_000;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
    this.#metrics = options.metrics ? boundBusMetrics(options.metrics.registry, this.driver.name) : undefined;
  }

  get counters(): Readonly<BusCounters> {
    return { ...this.#counters };
  }

  /** The subscription connection is up (false before start, while reconnecting, after close). */
  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /** Opens the driver. Rejects with `BUS_ERR_UNAVAILABLE` when the engine cannot be reached (retry by calling again). */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(unavailable(undefined, 'The bus is closed.'));
    this.#opening ??= this.driver.open(this.#listener()).then(
      () => {
        this.#open = true;
        this.#connected = true;
      },
      (error: unknown) => {
        this.#opening = undefined;
        throw unavailable(error, `Cannot connect the bus (${this.driver.name}).`);
      },
    );
    return this.#opening;
  }

  /** Readiness: undefined while the subscription connection is up, else the reason. */
  async check(): Promise<string | undefined> {
    return this.connected ? undefined : `bus (${this.driver.name}): subscription connection is down`;
  }

  /**
   * Publishes `message` (any JSON-serialisable value) to every subscription of `topic` on every node,
   * this one included. Resolves when the engine accepted it, which says nothing about receipt.
   * Rejects with `BUS_ERR_INVALID_TOPIC`, `BUS_ERR_INVALID_MESSAGE`, `BUS_ERR_MESSAGE_TOO_LARGE`, or
   * `BUS_ERR_UNAVAILABLE` (not sent; though after a lost connection it may have been).
   */
  publish(topic: string, message: unknown): Promise<void> {
    let payload: string;
    try {
      validateTopic(topic, this.maxTopicBytes);
      const meta = { id: randomUUID(), topic, origin: this.nodeId, publishedAt: Math.floor(this.#clock()) };
      payload = encodeEnvelope(meta, message);
      // A UTF-16 unit is at most 3 UTF-8 bytes: count exactly only when it could matter.
      if (payload.length * 3 > this.maxMessageBytes) {
        const size = payloadBytes(payload);
        if (size > this.maxMessageBytes) {
          throw new GroundworkError('BUS_ERR_MESSAGE_TOO_LARGE', {
            detail: `The message for bus topic "${topic}" is ${size} bytes as an envelope; the limit is ${this.maxMessageBytes}.`,
          });
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const channel = this.channelPrefix + topic;
    // Once open, the driver is called synchronously, which keeps publishes in call order.
    if (this.#open) return this.#send(channel, payload);
    return this.start().then(() => this.#send(channel, payload));
  }

  #send(channel: string, payload: string): Promise<void> {
    if (this.#closed) return Promise.reject(unavailable(undefined, 'The bus is closed.'));
    return this.driver.publish(channel, payload).then(
      () => {
        this.#counters.published++;
        this.#metrics?.published.inc();
      },
      (error: unknown) => {
        throw unavailable(error, `The bus (${this.driver.name}) did not accept the message.`);
      },
    );
  }

  /**
   * Calls `handler` with every message published on `topic` from the moment the returned promise
   * resolves until the returned function is called. Several subscriptions to one topic share one
   * engine subscription; each subscription (each call, even with the same function) gets each
   * message once. Handlers are not awaited: an async handler's rejection is only logged and counted.
   * All handlers of a message receive the same parsed object: do not mutate it.
   *
   * Rejects with `BUS_ERR_UNAVAILABLE` when the engine subscription cannot be made (connection
   * down). Joining a topic this bus already subscribes succeeds even while reconnecting; it then
   * receives messages from the resubscription on, like the topic's other handlers.
   */
  async subscribe<T = unknown>(
    topic: string,
    handler: BusHandler<T>,
    options: SubscribeOptions = {},
  ): Promise<Unsubscribe> {
    validateTopic(topic, this.maxTopicBytes);
    if (typeof handler !== 'function') throw new TypeError('bus.subscribe: handler must be a function');
    if (!this.#open) await this.start();
    if (this.#closed) throw unavailable(undefined, 'The bus is closed.');
    const subscription: Subscription = {
      handler: handler as BusHandler<never>,
      ignoreOwn: options.ignoreOwn === true,
    };
    let entry = this.#topics.get(topic);
    if (entry === undefined) {
      const created: TopicEntry = { subscriptions: new Set(), ready: Promise.resolve() };
      created.ready = this.driver.subscribe([this.channelPrefix + topic]).catch((error: unknown) => {
        // Forget the topic at once, so the next subscribe tries the engine again.
        if (this.#topics.get(topic) === created) this.#topics.delete(topic);
        throw unavailable(error, `Cannot subscribe to bus topic "${topic}" (${this.driver.name}).`);
      });
      this.#topics.set(topic, created);
      entry = created;
    }
    entry.subscriptions.add(subscription);
    try {
      await entry.ready;
    } catch (error) {
      entry.subscriptions.delete(subscription);
      throw error;
    }
    const joined = entry;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.#leave(topic, joined, subscription);
    };
  }

  /**
   * Calls `listener` after each reconnection, once every active topic is subscribed again: messages
   * published while disconnected were lost, so drop state derived from them. Returns a remover.
   */
  onReconnect(listener: () => void | Promise<void>): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  /** Calls `listener` when the subscription connection is lost (messages are being missed from now). */
  onDisconnect(listener: () => void): () => void {
    this.#disconnectListeners.add(listener);
    return () => this.#disconnectListeners.delete(listener);
  }

  /** Topics with at least one subscription. */
  topics(): string[] {
    return [...this.#topics.keys()];
  }

  /** Drops every subscription and closes the driver; handlers are never called again. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    this.#topics.clear();
    await this.#opening?.catch(() => undefined);
    await this.driver.close();
  }

  #leave(topic: string, entry: TopicEntry, subscription: Subscription): void {
    entry.subscriptions.delete(subscription);
    if (entry.subscriptions.size > 0 || this.#topics.get(topic) !== entry) return;
    this.#topics.delete(topic);
    if (this.#closed) return;
    this.driver.unsubscribe([this.channelPrefix + topic]).catch((error: unknown) => {
      // Harmless: a message still arriving for the topic finds no entry and is dropped.
      this.#logger?.debug({ err: error, topic }, 'bus unsubscribe failed');
    });
  }

  #listener(): BusDriverListener {
    return {
      message: (channel, payload) => this.#receive(channel, payload),
      disconnected: (cause) => {
        if (this.#closed || !this.#connected) return;
        this.#connected = false;
        this.#epoch++;
        this.#logger?.warn({ err: cause, driver: this.driver.name }, 'bus connection lost; reconnecting');
        for (const listener of this.#disconnectListeners) this.#safely(listener, 'onDisconnect');
      },
      reconnected: () => {
        if (this.#closed) return;
        this.#connected = true;
        this.#resubscribe(++this.#epoch, 0);
      },
    };
  }

  /** Subscribes every active topic in one driver call (issued synchronously), then tells listeners. */
  #resubscribe(epoch: number, attempt: number): void {
    const channels = [...this.#topics.keys()].map((topic) => this.channelPrefix + topic);
    const done = channels.length > 0 ? this.driver.subscribe(channels) : Promise.resolve();
    done.then(
      () => {
        if (epoch !== this.#epoch || this.#closed) return;
        this.#counters.reconnects++;
        this.#metrics?.reconnects.inc();
        this.#logger?.info({ driver: this.driver.name, topics: channels.length }, 'bus reconnected');
        for (const listener of this.#reconnectListeners) this.#safely(listener, 'onReconnect');
      },
      (error: unknown) => {
        if (epoch !== this.#epoch || this.#closed) return;
        const delayMs = RESUBSCRIBE_RETRY_MS[Math.min(attempt, RESUBSCRIBE_RETRY_MS.length - 1)]!;
        this.#logger?.warn({ err: error, driver: this.driver.name, delayMs }, 'bus resubscribe failed');
        setTimeout(() => {
          if (epoch === this.#epoch && !this.#closed) this.#resubscribe(epoch, attempt + 1);
        }, delayMs).unref();
      },
    );
  }

  #receive(channel: string, payload: string): void {
    if (this.#closed || !channel.startsWith(this.channelPrefix)) return;
    const topic = channel.slice(this.channelPrefix.length);
    const entry = this.#topics.get(topic);
    if (entry === undefined) return; // unsubscribed while the message was in flight
    const envelope = decodeEnvelope(payload);
    if (envelope === undefined || envelope.topic !== topic) {
      this.#drop('malformed');
      this.#logger?.warn({ topic, driver: this.driver.name }, 'bus payload is not a valid envelope; dropped');
      return;
    }
    if (this.#duplicateWindow > 0) {
      if (this.#recentIds.has(envelope.id)) {
        this.#drop('duplicate');
        return;
      }
      this.#recentIds.add(envelope.id);
      if (this.#recentIds.size > this.#duplicateWindow) {
        this.#recentIds.delete(this.#recentIds.values().next().value as string);
      }
    }
    this.#metrics?.deliveryDelay.observe(Math.max(0, this.#clock() - envelope.publishedAt) / 1000);
    const meta: BusMessageMeta = {
      id: envelope.id,
      topic,
      origin: envelope.origin,
      publishedAt: envelope.publishedAt,
      own: envelope.origin === this.nodeId,
    };
    for (const subscription of [...entry.subscriptions]) {
      // A handler may have unsubscribed another one (or itself) during this loop.
      if (!entry.subscriptions.has(subscription) || (subscription.ignoreOwn && meta.own)) continue;
      this.#counters.delivered++;
      this.#metrics?.delivered.inc();
      try {
        const result = (subscription.handler as BusHandler<unknown>)(envelope.data, meta);
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
          (result as Promise<void>).then(undefined, (error: unknown) => this.#handlerFailed(error, meta));
        }
      } catch (error) {
        this.#handlerFailed(error, meta);
      }
    }
  }

  #handlerFailed(error: unknown, meta: BusMessageMeta): void {
    this.#counters.handlerErrors++;
    this.#metrics?.handlerErrors.inc();
    this.#logger?.error({ err: error, topic: meta.topic, messageId: meta.id }, 'bus handler failed');
  }

  #drop(reason: DropReason): void {
    if (reason === 'malformed') this.#counters.malformed++;
    else this.#counters.duplicates++;
    this.#metrics?.dropped.inc({ reason });
  }

  #safely(listener: () => void | Promise<void>, what: string): void {
    const failed = (error: unknown): void => {
      this.#logger?.error({ err: error }, `bus ${what} listener failed`);
    };
    try {
      const result = listener();
      if (result !== undefined && typeof result.then === 'function') result.then(undefined, failed);
    } catch (error) {
      failed(error);
    }
  }
}
