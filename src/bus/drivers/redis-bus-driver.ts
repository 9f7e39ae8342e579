/**
 * The Redis bus driver: PUBLISH / SUBSCRIBE. Two connections, because a RESP2 connection in
 * subscriber mode accepts only (UN)SUBSCRIBE/PING: one publishes, one holds the subscriptions.
 *
 * The subscriber connection speaks RESP2 on purpose: it is then a `pubsub` client for Redis, so
 * `client-output-buffer-limit pubsub` protects Redis from a subscriber that stops reading (Redis
 * disconnects it; this driver reconnects) and operators can see it in `CLIENT LIST TYPE pubsub`.
 *
 * Reconnection: ioredis reconnects both connections with backoff. Its own resubscription
 * (`autoResubscribe`) is off, so exactly one party resubscribes: the `Bus`, on `reconnected`, with
 * one SUBSCRIBE of every active channel. SUBSCRIBE of a channel a connection already holds is a
 * no-op in Redis, and there is only ever one subscriber connection, so a publish reaches this
 * driver once. Messages published while the subscriber connection is down are lost (pub/sub keeps
 * nothing); publishes made while the publisher connection is down fail at once (no offline queue)
 * and a publish in flight when its connection drops is rejected, never resent.
 *
 * ioredis is imported when the driver opens, so the embedded path never loads it.
 */
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { GroundworkError } from '../../core/errors.js';
import type { BusDriver, BusDriverCapabilities, BusDriverListener } from '../bus-driver.js';
import { backoffDelayMs } from './backoff.js';

export interface RedisBusDriverOptions {
  /** `redis://[user:pass@]host:port[/db]`. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** `CLIENT SETNAME` of the connections: `<name>-pub` and `<name>-sub`. Default `groundwork-bus`. */
  connectionName?: string;
  /** Give up one connection attempt after this many ms. Default 2000. */
  connectTimeoutMs?: number;
  /** First reconnection delay, ms (then doubling, with jitter). Default 50. */
  reconnectMinMs?: number;
  /** Longest reconnection delay, ms. Default 2000. */
  reconnectMaxMs?: number;
}

function unavailable(cause: unknown, detail: string): GroundworkError {
  return new GroundworkError('BUS_ERR_UNAVAILABLE', { detail, cause });
}

export class RedisBusDriver implements BusDriver {
  readonly name = 'redis';
  readonly capabilities: BusDriverCapabilities = {
    crossProcess: true,
    // Redis takes up to 512 MB; the Bus's own default bound (64 KiB) is what applies in practice.
    maxPayloadBytes: 64 * 1024 * 1024,
    maxChannelBytes: 1024,
  };
  readonly #options: RedisBusDriverOptions;
  #publisher: RedisClient | undefined;
  #subscriber: RedisClient | undefined;
  #listener: BusDriverListener | undefined;
  /** The subscriber connection is ready and the listener knows it. */
  #up = false;
  #closed = false;
  #lastError: unknown;

  constructor(options: RedisBusDriverOptions = {}) {
    this.#options = options;
  }

  async open(listener: BusDriverListener): Promise<void> {
    if (this.#closed) throw unavailable(undefined, 'The bus driver is closed.');
    const { Redis } = await import('ioredis');
    const name = this.#options.connectionName ?? 'groundwork-bus';
    const backoff = {
      minMs: this.#options.reconnectMinMs ?? 50,
      maxMs: this.#options.reconnectMaxMs ?? 2_000,
    };
    const common: RedisOptions = {
      lazyConnect: true,
      connectTimeout: this.#options.connectTimeoutMs ?? 2_000,
      // Fail fast while disconnected: pub/sub is at-most-once; a queued publish would only be late.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Never resend a command whose reply was lost: a PUBLISH could reach subscribers twice.
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times) => backoffDelayMs(times, backoff),
    };
    const url = this.#options.url ?? 'redis://127.0.0.1:6379';
    const publisher = new Redis(url, { ...common, connectionName: `${name}-pub` });
    const subscriber = new Redis(url, {
      ...common,
      connectionName: `${name}-sub`,
      protocol: 2,
      autoResubscribe: false,
    });
    for (const client of [publisher, subscriber]) {
      // Errors surface through failed commands and the close/ready events; without a listener
      // ioredis would print each reconnection attempt's error.
      client.on('error', (error: unknown) => {
        this.#lastError = error;
      });
    }
    try {
      await Promise.all([publisher.connect(), subscriber.connect()]);
    } catch (error) {
      publisher.disconnect();
      subscriber.disconnect();
      throw unavailable(error, 'Cannot connect the bus to Redis.');
    }
    if (this.#closed) {
      publisher.disconnect();
      subscriber.disconnect();
      throw unavailable(undefined, 'The bus driver was closed while opening.');
    }
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#listener = listener;
    this.#up = true;
    subscriber.on('message', (channel: string, payload: string) => {
      if (!this.#closed) this.#listener?.message(channel, payload);
    });
    subscriber.on('close', () => {
      if (!this.#up || this.#closed) return;
      this.#up = false;
      this.#listener?.disconnected(this.#lastError);
    });
    subscriber.on('ready', () => {
      if (this.#up || this.#closed) return;
      this.#up = true;
      this.#listener?.reconnected();
    });
  }

  publish(channel: string, payload: string): Promise<void> {
    const publisher = this.#publisher;
    if (publisher === undefined || this.#closed) {
      return Promise.reject(unavailable(undefined, 'The Redis bus is not open.'));
    }
    return publisher.publish(channel, payload).then(
      () => undefined,
      (error: unknown) => {
        throw unavailable(error, 'Redis did not accept the bus message.');
      },
    );
  }

  subscribe(channels: readonly string[]): Promise<void> {
    const subscriber = this.#subscriber;
    if (subscriber === undefined || this.#closed || !this.#up) {
      return Promise.reject(unavailable(this.#lastError, 'The Redis bus subscriber is not connected.'));
    }
    if (channels.length === 0) return Promise.resolve();
    return subscriber.subscribe(...channels).then(
      () => undefined,
      (error: unknown) => {
        throw unavailable(error, 'Redis refused the bus subscription.');
      },
    );
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    const subscriber = this.#subscriber;
    // While down, Redis has already forgotten every subscription of the lost connection.
    if (subscriber === undefined || this.#closed || !this.#up || channels.length === 0) {
      return Promise.resolve();
    }
    return subscriber.unsubscribe(...channels).then(
      () => undefined,
      (error: unknown) => {
        throw unavailable(error, 'Redis refused the bus unsubscription.');
      },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#up = false;
    this.#listener = undefined;
    const publisher = this.#publisher;
    this.#subscriber?.disconnect();
    if (publisher === undefined) return;
    // QUIT lets publishes already sent get their replies; a dead connection is just dropped.
    if (publisher.status === 'ready') await publisher.quit().catch(() => publisher.disconnect());
    else publisher.disconnect();
  }
}
