/**
 * One L4 route as a lifecycle component: a TCP listener whose every accepted connection is joined,
 * byte for byte, to a connection to one target of the route's upstream group.
 *
 * Per client connection:
 * 1. **Admission.** At most `maxConnections` are served at once (connecting or open). Over that, up
 *    to `maxQueued` wait in arrival order for a free slot, at most `queueTimeoutMs`; the rest are
 *    closed at once (`refused{reason="limit"}`). The listener is `pauseOnConnect`: nothing is read
 *    from a client before its upstream is connected, so a waiting client's bytes (a PostgreSQL
 *    startup packet) stay in the kernel, and so does a slow upstream's backlog.
 * 2. **Connect with retries.** The balancer picks among the targets that are up (active health
 *    check) and not ejected (passive check), keyed by the client IP for the hashing algorithms. A
 *    failed connect (refused, timed out after `connectTimeoutMs`) is reported to outlier detection
 *    and retried on a target not tried yet, up to `connectTries` targets: nothing was sent, so this
 *    is safe for any protocol. When no target is left the client is closed (`no-target`,
 *    `EDGE_ERR_TCP_NO_UPSTREAM` in the log).
 * 3. **Splice** (`tcp-splice.ts`): both directions streamed with backpressure, half-close forwarded,
 *    an error on one side destroys the other, idle timeout. With `proxyProtocol` set, the PROXY
 *    header goes to the upstream before any client byte.
 *
 * `close()` drains: the listener stops accepting at once, queued clients are closed, health checks
 * stop, open connections run on until they end or `drainTimeoutMs` passes, and then the rest are cut
 * (`closed{reason="drain-timeout"}`). Connections to a target removed by `setTargets` drain the same
 * way, on their own timer.
 */
import net, { type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Counter, Registry } from 'prom-client';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import { type Scheduler, systemScheduler } from '../health/scheduler.js';
import { proxyProtocolHeader } from './proxy-protocol.js';
import type { TcpRouteConfig, TcpTargetConfig } from './tcp-config.js';
import { connectTcp } from './tcp-connect.js';
import { type CloseReason, type RefuseReason, type TcpMetrics, tcpMetrics } from './tcp-metrics.js';
import { Splice } from './tcp-splice.js';
import { type TcpTarget, type TcpTargetStatus, TcpUpstreamGroup } from './tcp-upstream-group.js';

export interface TcpRouteOptions {
  /** Where the edge_tcp_* metrics go; none when omitted. */
  readonly registry?: Registry | undefined;
  readonly logger?: Logger | undefined;
  /** Clock and timers of health checks, queue and drain timeouts; default real time. */
  readonly scheduler?: Scheduler | undefined;
}

/** Counts kept by the route itself (the metrics hold the same, labelled). */
export interface TcpRouteStats {
  accepted: number;
  refused: Record<RefuseReason, number>;
  closed: Record<CloseReason, number>;
  connectFailures: number;
  retries: number;
  /** Established upstream connections per target id. */
  connectionsByTarget: Record<string, number>;
}

interface Connection {
  readonly client: Socket;
  readonly clientIp: string | undefined;
  /** The upstream socket, from the start of its connect. */
  upstream: Socket | undefined;
  target: TcpTarget | undefined;
  splice: Splice | undefined;
  /** Set when the route cut the connection before it was spliced. */
  aborted: CloseReason | undefined;
  countedIn: number;
  countedOut: number;
  bytes: { readonly received: Counter.Internal; readonly sent: Counter.Internal } | undefined;
}

interface Queued {
  readonly client: Socket;
  readonly cancelTimer: () => void;
}

type State = 'new' | 'listening' | 'closing' | 'closed';

function emptyStats(): TcpRouteStats {
  return {
    accepted: 0,
    refused: { limit: 0, 'queue-timeout': 0, 'no-target': 0, draining: 0 },
    closed: { done: 0, error: 0, 'idle-timeout': 0, 'drain-timeout': 0, 'target-removed': 0 },
    connectFailures: 0,
    retries: 0,
    connectionsByTarget: {},
  };
}

/**
 * @example
 *   const route = new TcpRoute(tcpRouteSchema.parse({
 *     name: 'pg-replicas', listen: { port: 6432 }, targets: ['127.0.0.1:5433', '127.0.0.1:5434'],
 *   }), { registry: metrics.registry, logger });
 *   await route.start();   // psql -h 127.0.0.1 -p 6432 … reaches a replica
 *   await route.close();   // drains
 */
export class TcpRoute implements Component {
  readonly name: string;
  readonly config: TcpRouteConfig;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger | undefined;
  readonly #metrics: TcpMetrics | undefined;
  readonly #server: Server;
  readonly #live = new Set<Connection>();
  readonly #queue: Queued[] = [];
  readonly #stats = emptyStats();
  #group: TcpUpstreamGroup | undefined;
  #pendingTargets: readonly TcpTargetConfig[];
  #state: State = 'new';
  #closing: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;
  #removeSource: (() => void) | undefined;

  constructor(config: TcpRouteConfig, options: TcpRouteOptions = {}) {
    this.config = config;
    this.name = `edge-tcp:${config.name}`;
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#logger = options.logger?.child({ route: config.name });
    this.#metrics = options.registry === undefined ? undefined : tcpMetrics(options.registry);
    this.#pendingTargets = config.targets;
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
      this.#accept(socket),
    );
  }

  /** The port the route listens on (the real one when 0 was configured); 0 before `start`. */
  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Client connections being served (connecting or open). */
  get activeConnections(): number {
    return this.#live.size;
  }

  get queuedConnections(): number {
    return this.#queue.length;
  }

  /** A copy of the route's counters. */
  stats(): TcpRouteStats {
    return structuredClone(this.#stats);
  }

  /** Each target's health, ejection and open connections (empty before `start`). */
  targets(): TcpTargetStatus[] {
    return this.#group?.status() ?? [];
  }

  /**
   * Replaces the upstream group (config reload, discovery): new targets take connections at once,
   * removed ones take no new ones and their connections drain (see the file header).
   */
  setTargets(targets: readonly TcpTargetConfig[]): void {
    if (this.#group === undefined) this.#pendingTargets = targets;
    else this.#group.setTargets(targets);
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    const { host, port } = this.config.listen;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen({ host, port }, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.#state = 'closed';
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new GroundworkError('EDGE_ERR_TCP_LISTEN', {
        detail: `TCP route "${this.config.name}" cannot listen on ${host}:${port} (${code}).`,
        cause: error,
      });
    }
    this.#server.on('error', (error) => this.#logger?.error({ err: error }, 'TCP listener error'));
    this.#group = new TcpUpstreamGroup(
      { ...this.config, targets: [...this.#pendingTargets] },
      {
        scheduler: this.#scheduler,
        onHealthChange: ({ id, healthy, error }) => {
          if (healthy) this.#logger?.info({ target: id }, 'TCP target is up');
          else this.#logger?.warn({ target: id, err: error }, 'TCP target is down');
        },
        onOutlierEvent: (event) => {
          if (event.type === 'ejected') {
            this.#metrics?.ejections.inc({ route: this.config.name, target: event.target });
            this.#logger?.warn(
              { target: event.target, durationMs: event.durationMs },
              'TCP target ejected after failed connects',
            );
          }
        },
        onDrainTimeout: (id) => {
          for (const connection of this.#live) {
            if (connection.target?.id === id) this.#cut(connection, 'target-removed');
          }
        },
      },
    );
    this.#removeSource = this.#metrics?.addSource({
      route: this.config.name,
      flushBytes: () => {
        for (const connection of this.#live) this.#countBytes(connection);
      },
      activeConnections: () => this.#live.size,
      queuedConnections: () => this.#queue.length,
      targets: () =>
        this.targets().map((t) => ({
          target: t.id,
          healthy: t.healthy,
          ejected: t.ejected,
          activeConnections: t.activeConnections,
        })),
    });
    this.#state = 'listening';
    this.#logger?.info({ host, port: this.port }, 'TCP route listening');
  }

  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    if (this.#state !== 'listening') {
      this.#state = 'closed';
      return;
    }
    this.#state = 'closing';
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const queued of this.#queue.splice(0)) {
      queued.cancelTimer();
      this.#refuse(queued.client, 'draining');
    }
    this.#group?.stop();
    if (this.#live.size > 0) {
      const idle = new Promise<void>((resolve) => {
        this.#onIdle = resolve;
      });
      const cancel = this.#scheduler.setTimeout(() => {
        if (this.#live.size === 0) return;
        this.#logger?.warn({ open: this.#live.size }, 'drain timeout reached: cutting open TCP connections');
        for (const connection of this.#live) this.#cut(connection, 'drain-timeout');
      }, this.config.drainTimeoutMs);
      await idle;
      cancel();
    }
    await listenerClosed;
    this.#removeSource?.();
    this.#state = 'closed';
  }

  #accept(client: Socket): void {
    // Errors before the splice takes over (a reset while queued) must not crash the process.
    client.on('error', () => {});
    this.#stats.accepted++;
    this.#metrics?.accepted.inc({ route: this.config.name });
    if (this.#state !== 'listening') {
      this.#refuse(client, 'draining');
      return;
    }
    const { maxConnections, maxQueued } = this.config;
    if (maxConnections === 0 || this.#live.size < maxConnections) {
      this.#admit(client);
      return;
    }
    if (this.#queue.length >= maxQueued) {
      this.#refuse(client, 'limit');
      return;
    }
    const entry: Queued = {
      client,
      cancelTimer: this.#scheduler.setTimeout(() => {
        const index = this.#queue.indexOf(entry);
        if (index === -1) return;
        this.#queue.splice(index, 1);
        this.#refuse(client, 'queue-timeout');
      }, this.config.queueTimeoutMs),
    };
    this.#queue.push(entry);
  }

  #admit(client: Socket): void {
    const connection: Connection = {
      client,
      clientIp: client.remoteAddress,
      upstream: undefined,
      target: undefined,
      splice: undefined,
      aborted: undefined,
      countedIn: 0,
      countedOut: 0,
      bytes: undefined,
    };
    this.#live.add(connection);
    this.#connect(connection).catch((error: unknown) => {
      // A bug, not a network failure (those are results): never leave the client hanging.
      this.#logger?.error({ err: error }, 'TCP connection setup failed');
      connection.upstream?.destroy();
      this.#refuse(connection.client, 'no-target');
      this.#release(connection);
    });
  }

  async #connect(connection: Connection): Promise<void> {
    const group = this.#group!;
    const route = this.config.name;
    const tried = new Set<string>();
    while (tried.size < this.config.connectTries && connection.aborted === undefined) {
      const target = group.pick(connection.clientIp, tried);
      if (target === undefined) break;
      tried.add(target.id);
      const end = group.begin(target);
      if (end === undefined) continue; // removed since the pick
      if (tried.size > 1) {
        this.#stats.retries++;
        this.#metrics?.connectRetries.inc({ route });
      }
      const result = await connectTcp(target.host, target.port, {
        timeoutMs: this.config.connectTimeoutMs,
        onSocket: (socket) => {
          connection.upstream = socket;
        },
      });
      if (connection.aborted !== undefined) {
        // Cut by the route meanwhile (drain): says nothing about the target.
        if (result.ok) result.socket.destroy();
        end({ ok: true, latencyMs: 0 });
        break;
      }
      if (result.ok) {
        group.reportConnect(target.id, true);
        this.#metrics?.upstreamConnections.inc({ route, target: target.id });
        this.#metrics?.connectDuration.observe({ route, target: target.id }, result.durationMs / 1_000);
        this.#stats.connectionsByTarget[target.id] = (this.#stats.connectionsByTarget[target.id] ?? 0) + 1;
        this.#open(connection, target, result.socket, end);
        return;
      }
      end({ ok: false, latencyMs: result.durationMs });
      connection.upstream = undefined;
      group.reportConnect(target.id, false);
      this.#stats.connectFailures++;
      this.#metrics?.connectFailures.inc({ route, target: target.id, reason: result.reason });
      this.#logger?.debug({ target: target.id, err: result.error }, 'TCP connect to target failed');
    }
    if (connection.aborted === undefined) {
      this.#logger?.warn(
        {
          err: new GroundworkError('EDGE_ERR_TCP_NO_UPSTREAM', {
            detail: `no target accepted the connection (tried ${tried.size})`,
          }),
          client: connection.clientIp,
          tried: [...tried],
        },
        'TCP connection closed: no upstream',
      );
    }
    this.#refuse(connection.client, connection.aborted === undefined ? 'no-target' : 'draining');
    this.#release(connection);
  }

  #open(
    connection: Connection,
    target: TcpTarget,
    upstream: Socket,
    end: (outcome: { ok: boolean; latencyMs: number }) => void,
  ): void {
    const { client } = connection;
    connection.upstream = upstream;
    connection.target = target;
    if (this.#metrics !== undefined) {
      const labels = { route: this.config.name, target: target.id };
      connection.bytes = {
        received: this.#metrics.receivedBytes.labels(labels),
        sent: this.#metrics.sentBytes.labels(labels),
      };
    }
    const startedMs = performance.now();
    const finish = (reason: CloseReason): void => {
      this.#countBytes(connection);
      this.#stats.closed[reason]++;
      this.#metrics?.closed.inc({ route: this.config.name, reason });
      end({ ok: reason !== 'error', latencyMs: performance.now() - startedMs });
      this.#release(connection);
    };
    if (client.destroyed || upstream.destroyed) {
      // One side went away between the connect and now (its close event may be gone already).
      client.destroy();
      upstream.destroy();
      finish('error');
      return;
    }
    if (this.config.proxyProtocol !== 'off') {
      upstream.write(
        proxyProtocolHeader(this.config.proxyProtocol, {
          sourceAddress: client.remoteAddress,
          sourcePort: client.remotePort,
          destinationAddress: client.localAddress,
          destinationPort: client.localPort,
        }),
      );
    }
    connection.splice = new Splice(client, upstream, {
      idleTimeoutMs: this.config.idleTimeoutMs,
      onEnd: finish,
    });
  }

  /** Adds what `connection` moved since the last count to the byte counters. */
  #countBytes(connection: Connection): void {
    const { bytes, client } = connection;
    if (bytes === undefined) return;
    const received = client.bytesRead;
    const sent = client.bytesWritten;
    if (received > connection.countedIn) bytes.received.inc(received - connection.countedIn);
    if (sent > connection.countedOut) bytes.sent.inc(sent - connection.countedOut);
    connection.countedIn = received;
    connection.countedOut = sent;
  }

  #cut(connection: Connection, reason: CloseReason): void {
    if (connection.splice !== undefined) {
      connection.splice.cut(reason);
      return;
    }
    connection.aborted ??= reason;
    connection.upstream?.destroy();
    connection.client.destroy();
  }

  #refuse(client: Socket, reason: RefuseReason): void {
    this.#stats.refused[reason]++;
    this.#metrics?.refused.inc({ route: this.config.name, reason });
    client.destroy();
  }

  /** A served connection ended: frees its slot for the oldest queued client. */
  #release(connection: Connection): void {
    if (!this.#live.delete(connection)) return;
    if (this.#state === 'listening') {
      const { maxConnections } = this.config;
      while (this.#queue.length > 0 && (maxConnections === 0 || this.#live.size < maxConnections)) {
        const next = this.#queue.shift()!;
        next.cancelTimer();
        if (next.client.destroyed) continue;
        this.#admit(next.client);
      }
    }
    if (this.#live.size === 0) this.#onIdle?.();
  }
}
