/**
 * The bus port: the few operations a publish/subscribe engine must provide. Everything else
 * (topics, the message envelope, size bounds, fan-out to several handlers, resubscribing after a
 * reconnect, duplicate suppression, metrics) is written once in `Bus` (`bus.ts`).
 *
 * A driver moves opaque text payloads on named channels. It keeps **at most one** engine
 * subscription per channel (subscribing twice is a no-op) on **one** subscription connection, so
 * one publish reaches a driver once. Delivery is at-most-once on every driver: a message published
 * while the subscription connection is down is lost for that subscriber, never replayed.
 *
 * Calls take effect in the order they are made, without the caller awaiting each one (a driver
 * sends them down one connection in call order): `subscribe(['a'])`, `unsubscribe(['a'])`,
 * `subscribe(['a'])` made in a row leave `a` subscribed, and publishes from one driver reach each
 * subscriber in call order, per channel.
 */

/** What a driver can do, declared by the driver (never inferred from its name). */
export interface BusDriverCapabilities {
  /** Other processes (nodes) on the same engine receive the messages (Redis, PostgreSQL: yes). */
  readonly crossProcess: boolean;
  /** Largest payload in UTF-8 bytes the engine accepts (PostgreSQL NOTIFY: 7999). */
  readonly maxPayloadBytes: number;
  /** Longest channel name in bytes (PostgreSQL identifiers: 63; longer ones would be truncated). */
  readonly maxChannelBytes: number;
}

/** Where a driver reports what it receives. Callbacks must not throw (the `Bus` never does). */
export interface BusDriverListener {
  /** One message received on a channel this driver subscribed to. */
  message(channel: string, payload: string): void;
  /**
   * The subscription connection was lost: the engine has forgotten every subscription and messages
   * published from now until `reconnected` are lost. Called once per loss.
   */
  disconnected(cause?: unknown): void;
  /**
   * A new subscription connection is up after a loss. It carries **no** subscriptions: the listener
   * must `subscribe` every channel it still wants (the `Bus` does, in one call).
   */
  reconnected(): void;
}

/**
 * The port. Rejections are `GroundworkError`s (`BUS_ERR_UNAVAILABLE` when the engine cannot be
 * reached or the driver is closed; `BUS_ERR_MESSAGE_TOO_LARGE`, `BUS_ERR_INVALID_TOPIC` for what the
 * engine would refuse or mangle). Drivers reconnect by themselves, with backoff, until closed.
 */
export interface BusDriver {
  /** Label for metrics and logs: `memory`, `redis`, `postgres`. */
  readonly name: string;
  readonly capabilities: BusDriverCapabilities;
  /**
   * Connects and reports to `listener` from now on. Rejects when the engine cannot be reached,
   * having released what it opened; may then be called again. Called once per successful open.
   */
  open(listener: BusDriverListener): Promise<void>;
  /** Sends `payload` to every current subscriber of `channel`; resolves when the engine accepted it. */
  publish(channel: string, payload: string): Promise<void>;
  /** Adds engine subscriptions (no-op for channels already subscribed); resolves when they are active. */
  subscribe(channels: readonly string[]): Promise<void>;
  /** Removes engine subscriptions; messages may still arrive for a moment (the caller drops them). */
  unsubscribe(channels: readonly string[]): Promise<void>;
  /** Drops the subscriptions and closes the connections; later calls reject. Idempotent. */
  close(): Promise<void>;
}
