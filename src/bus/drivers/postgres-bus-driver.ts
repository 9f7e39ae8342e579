/**
 * The PostgreSQL bus driver: LISTEN / NOTIFY, for deployments that have PostgreSQL and no Redis.
 * Two dedicated connections (not from the data pool: a pooled connection would lose its LISTENs
 * when returned): one holds every LISTEN and receives notifications, one sends `pg_notify`.
 *
 * Engine limits, enforced here with clear errors instead of PostgreSQL's:
 * - a payload must be shorter than 8000 bytes (`BUS_ERR_MESSAGE_TOO_LARGE` from 8000 on);
 * - a channel is an identifier of at most 63 bytes; PostgreSQL would silently truncate a longer
 *   one, merging channels, so longer names are refused (`BUS_ERR_INVALID_TOPIC`).
 * No SQL is built from a channel without quoting: NOTIFY goes through `pg_notify($1, $2)` with
 * parameters, and LISTEN/UNLISTEN (which take no parameters) quote the name as an identifier.
 *
 * Notifications are delivered only between transactions and only to sessions listening at the
 * sender's commit. When the listening connection is lost (server restart, `pg_terminate_backend`,
 * network), `disconnected` is reported, a new connection is made with backoff, and `reconnected`
 * follows (the `Bus` then LISTENs every active channel again). Notifications sent in between are
 * lost. The old connection is discarded before the new one exists, so two listening sessions never
 * coexist and a notification cannot arrive twice. TCP keepalive is on, but a silent network
 * partition is only noticed when the kernel gives up on the socket.
 *
 * pg is imported when the driver opens.
 */
import type { Client } from 'pg';
import { GroundworkError } from '../../core/errors.js';
import type { BusDriver, BusDriverCapabilities, BusDriverListener } from '../bus-driver.js';
import { backoffDelayMs } from './backoff.js';

export interface PostgresBusDriverOptions {
  /** `postgres://user:pass@host:port/database`. NOTIFY reaches listeners of the same database only. */
  url: string;
  /** `application_name` of the connections: `<name>-listen` and `<name>-notify`. Default `groundwork-bus`. */
  applicationName?: string;
  /** Give up one connection attempt after this many ms. Default 5000. */
  connectTimeoutMs?: number;
  /** First reconnection delay, ms (then doubling, with jitter). Default 100. */
  reconnectMinMs?: number;
  /** Longest reconnection delay, ms. Default 5000. */
  reconnectMaxMs?: number;
}

/** PostgreSQL's NOTIFY payload limit (default build): "must be shorter than 8000 bytes". */
export const POSTGRES_MAX_PAYLOAD_BYTES = 7_999;
/** NAMEDATALEN − 1. */
export const POSTGRES_MAX_CHANNEL_BYTES = 63;

type PgModule = typeof import('pg').default;

function unavailable(cause: unknown, detail: string): GroundworkError {
  return new GroundworkError('BUS_ERR_UNAVAILABLE', { detail, cause });
}

function checkChannel(channel: string): void {
  if (channel === '' || channel.includes('\0') || Buffer.byteLength(channel) > POSTGRES_MAX_CHANNEL_BYTES) {
    throw new GroundworkError('BUS_ERR_INVALID_TOPIC', {
      detail: `PostgreSQL channel names must be 1 to ${POSTGRES_MAX_CHANNEL_BYTES} bytes without NUL.`,
    });
  }
}

export class PostgresBusDriver implements BusDriver {
  readonly name = 'postgres';
  readonly capabilities: BusDriverCapabilities = {
    crossProcess: true,
    maxPayloadBytes: POSTGRES_MAX_PAYLOAD_BYTES,
    maxChannelBytes: POSTGRES_MAX_CHANNEL_BYTES,
  };
  readonly #options: PostgresBusDriverOptions;
  #pg: PgModule | undefined;
  #listener: BusDriverListener | undefined;
  /** The LISTEN connection; undefined while reconnecting. */
  #listen: Client | undefined;
  /** The NOTIFY connection, made on first publish and again after it fails. */
  #notify: Promise<Client> | undefined;
  /**
   * One query at a time per connection, in call order (pg 8.23 deprecates queueing queries on a
   * client): each query starts when the previous one of its connection has settled.
   */
  #notifyTail: Promise<unknown> = Promise.resolve();
  #listenTail: Promise<unknown> = Promise.resolve();
  #reconnectTimer: NodeJS.Timeout | undefined;
  #up = false;
  #closed = false;

  constructor(options: PostgresBusDriverOptions) {
    this.#options = options;
  }

  async open(listener: BusDriverListener): Promise<void> {
    if (this.#closed) throw unavailable(undefined, 'The bus driver is closed.');
    this.#pg ??= (await import('pg')).default;
    const listen = await this.#connect('listen');
    if (this.#closed) {
      await listen.end().catch(() => undefined);
      throw unavailable(undefined, 'The bus driver was closed while opening.');
    }
    this.#listener = listener;
    this.#adopt(listen);
  }

  publish(channel: string, payload: string): Promise<void> {
    if (this.#closed || this.#pg === undefined) {
      return Promise.reject(unavailable(undefined, 'The PostgreSQL bus is not open.'));
    }
    try {
      checkChannel(channel);
    } catch (error) {
      return Promise.reject(error);
    }
    const size = Buffer.byteLength(payload);
    if (size > POSTGRES_MAX_PAYLOAD_BYTES) {
      return Promise.reject(
        new GroundworkError('BUS_ERR_MESSAGE_TOO_LARGE', {
          detail: `A PostgreSQL NOTIFY payload must be shorter than 8000 bytes; this one is ${size}.`,
        }),
      );
    }
    const sent = this.#notifyTail.then(() =>
      this.#notifyClient().then(
        (client) =>
          client.query('select pg_notify($1, $2)', [channel, payload]).then(
            () => undefined,
            (error: unknown) => {
              throw unavailable(error, 'PostgreSQL did not accept the bus message.');
            },
          ),
        (error: unknown) => {
          throw unavailable(error, 'Cannot connect the bus publisher to PostgreSQL.');
        },
      ),
    );
    this.#notifyTail = sent.catch(() => undefined);
    return sent;
  }

  subscribe(channels: readonly string[]): Promise<void> {
    return this.#listenCommand('LISTEN', channels, true);
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    // While reconnecting there is nothing to undo: the lost session took its LISTENs with it.
    if (!this.#up) return Promise.resolve();
    return this.#listenCommand('UNLISTEN', channels, false);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#up = false;
    this.#listener = undefined;
    clearTimeout(this.#reconnectTimer);
    const listen = this.#listen;
    this.#listen = undefined;
    const notify = this.#notify;
    this.#notify = undefined;
    await Promise.all([
      listen?.end().catch(() => undefined),
      notify?.then((client) => client.end()).catch(() => undefined),
    ]);
  }

  #listenCommand(
    command: 'LISTEN' | 'UNLISTEN',
    channels: readonly string[],
    strict: boolean,
  ): Promise<void> {
    const client = this.#listen;
    const pg = this.#pg;
    if (client === undefined || pg === undefined || !this.#up || this.#closed) {
      return strict
        ? Promise.reject(unavailable(undefined, 'The PostgreSQL bus listener is not connected.'))
        : Promise.resolve();
    }
    if (channels.length === 0) return Promise.resolve();
    try {
      for (const channel of channels) checkChannel(channel);
    } catch (error) {
      return Promise.reject(error);
    }
    // One simple-protocol query, one implicit transaction: all the channels or none.
    const text = channels.map((channel) => `${command} ${pg.escapeIdentifier(channel)}`).join('; ');
    const done = this.#listenTail.then(() => client.query(text));
    this.#listenTail = done.catch(() => undefined);
    return done.then(
      () => undefined,
      (error: unknown) => {
        throw unavailable(error, `PostgreSQL refused ${command} for the bus.`);
      },
    );
  }

  async #connect(role: 'listen' | 'notify'): Promise<Client> {
    const pg = this.#pg!;
    const client = new pg.Client({
      connectionString: this.#options.url,
      application_name: `${this.#options.applicationName ?? 'groundwork-bus'}-${role}`,
      connectionTimeoutMillis: this.#options.connectTimeoutMs ?? 5_000,
      keepAlive: true,
    });
    // Until adopted, an idle error must not crash the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      throw unavailable(error, `Cannot connect the bus (${role}) to PostgreSQL.`);
    }
    return client;
  }

  #adopt(client: Client): void {
    this.#listen = client;
    this.#listenTail = Promise.resolve();
    this.#up = true;
    client.on('notification', (notification) => {
      if (client === this.#listen && !this.#closed) {
        this.#listener?.message(notification.channel, notification.payload ?? '');
      }
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, undefined));
  }

  #lost(client: Client, cause: unknown): void {
    if (client !== this.#listen || this.#closed) return;
    this.#listen = undefined;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.#up) {
      this.#up = false;
      this.#listener?.disconnected(cause);
    }
    this.#scheduleReconnect(1);
  }

  #scheduleReconnect(attempt: number): void {
    const delayMs = backoffDelayMs(attempt, {
      minMs: this.#options.reconnectMinMs ?? 100,
      maxMs: this.#options.reconnectMaxMs ?? 5_000,
    });
    this.#reconnectTimer = setTimeout(() => {
      this.#connect('listen').then(
        (client) => {
          if (this.#closed) {
            client.end().catch(() => undefined);
            return;
          }
          this.#adopt(client);
          this.#listener?.reconnected();
        },
        () => {
          if (!this.#closed) this.#scheduleReconnect(attempt + 1);
        },
      );
    }, delayMs);
    this.#reconnectTimer.unref();
  }

  /** The NOTIFY connection, (re)made on demand; forgotten when it fails so the next publish retries. */
  #notifyClient(): Promise<Client> {
    if (this.#notify !== undefined) return this.#notify;
    const made = this.#connect('notify').then((client) => {
      const forget = (): void => {
        if (this.#notify === made) this.#notify = undefined;
        client.end().catch(() => undefined);
      };
      client.on('error', forget);
      client.on('end', forget);
      if (this.#closed) forget();
      return client;
    });
    made.catch(() => {
      if (this.#notify === made) this.#notify = undefined;
    });
    this.#notify = made;
    return made;
  }
}
