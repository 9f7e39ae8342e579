/**
 * WebSocket (and any HTTP/1.1 `Upgrade`) pass-through: the server's `upgrade` event hands over the
 * client's socket; the edge sends the handshake to a target picked like any request (undici
 * `upgrade` dispatch: it adds `Connection: upgrade` and `Upgrade: <protocol>` itself, the
 * `Sec-WebSocket-*` fields pass through), writes the target's `101 Switching Protocols` head back,
 * and from then on pipes the two sockets both ways, byte for byte; when either side ends or fails,
 * the other is ended or destroyed (a WebSocket close frame passes through like any other bytes).
 *
 * A target that answers the handshake with an ordinary response (401, 404, …) has it relayed as is,
 * and the connection closed. A failed try (connect failure, timeout, reset) is retried on another
 * target like a GET, within the route's tries and the group's retry budget; in the end the client
 * gets a problem+json 502/503/504 on its socket. The upgraded connection counts as in flight on its
 * target until it closes, so least-connections sees it and draining waits for it.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { GroundworkError } from '../../core/errors.js';
import { isRetryable } from '../health/retry-budget.js';
import {
  CONNECT_FAILURE,
  RESET,
  responseOutcome,
  TIMEOUT,
  type UpstreamOutcome,
} from '../health/upstream-outcome.js';
import type { CompiledRoute } from '../routing/route-table.js';
import type { TargetPick, UpstreamGroup } from '../upstream/upstream-group.js';
import { downstreamResponseHeaders, UPSTREAM_HOST_INDEX } from './forwarding-headers.js';
import { noHealthyUpstream, outcomeError, problemResponseText } from './proxy-errors.js';

export interface UpgradeInput {
  readonly route: CompiledRoute;
  readonly group: UpstreamGroup;
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  /** Bytes the client sent after its handshake, already read by Node. */
  readonly head: Buffer;
  readonly path: string;
  /** Upstream request headers (`upstreamRequestHeaders`: `host` first); hop-by-hop fields already removed. */
  readonly headers: string[];
  readonly protocol: string;
  readonly clientIp: string;
  readonly hashKey: string | undefined;
  readonly stickyCookie: string | undefined;
  readonly via: string;
}

/** Proxies one upgrade request; everything that happens later is on the sockets. */
export function proxyUpgrade(input: UpgradeInput): void {
  new UpgradeRequest(input).start();
}

class UpgradeRequest {
  readonly #in: UpgradeInput;
  readonly #deadlineMs: number;
  readonly #tried = new Set<string>();
  #tries = 0;
  #done = false;

  constructor(input: UpgradeInput) {
    this.#in = input;
    this.#deadlineMs = Date.now() + input.route.config.timeouts.totalMs;
    input.socket.on('error', () => input.socket.destroy());
  }

  start(): void {
    this.#in.group.budget.recordRequest();
    const pick = this.#pick();
    if (pick === undefined) this.#refuse(noHealthyUpstream());
    else this.#send(pick);
  }

  #pick(): TargetPick | undefined {
    const input = this.#in;
    return input.group.pick({
      clientIp: input.clientIp,
      hashKey: input.hashKey,
      stickyCookie: input.stickyCookie,
      exclude: this.#tried,
    });
  }

  #send(pick: TargetPick): void {
    const input = this.#in;
    const target = pick.target;
    this.#tries++;
    if (this.#tries > 1) target.stats.retries++;
    this.#tried.add(target.id);
    const headers = input.headers;
    if (!input.group.config.preserveHost || headers[UPSTREAM_HOST_INDEX] === '') {
      headers[UPSTREAM_HOST_INDEX] = target.authority;
    }
    const handler = new UpgradeTry(this, pick);
    const now = Date.now();
    handler.timer = setTimeout(
      () => handler.timeout(),
      Math.max(1, Math.min(input.route.config.timeouts.tryMs, this.#deadlineMs - now)),
    );
    try {
      target.pool.dispatch(
        {
          origin: target.origin,
          path: target.basePath + input.path,
          method: 'GET',
          headers,
          upgrade: input.protocol,
          headersTimeout: 0,
          bodyTimeout: input.route.config.timeouts.idleMs,
        },
        handler,
      );
    } catch (error) {
      handler.onError(error as Error);
    }
  }

  /** The try ended before a usable answer: retry or refuse. */
  failed(pick: TargetPick, outcome: UpstreamOutcome, cause: unknown): void {
    this.#report(pick, outcome);
    this.#in.group.end(pick, 0, false);
    if (this.#done) return;
    const input = this.#in;
    if (
      this.#tries < input.route.config.retries.maxTries &&
      this.#deadlineMs > Date.now() &&
      isRetryable('GET', input.req.headers, outcome) &&
      input.group.budget.canRetry()
    ) {
      const next = this.#pick();
      if (next !== undefined) {
        input.group.budget.recordRetry();
        this.#send(next);
        return;
      }
    }
    this.#refuse(outcomeError(outcome, cause));
  }

  /** The target switched protocols: relay its head and join the sockets. */
  upgraded(
    pick: TargetPick,
    status: number,
    rawHeaders: readonly (Buffer | string)[],
    upstream: Duplex,
  ): void {
    this.#report(pick, responseOutcome(status));
    const client = this.#in.socket;
    if (this.#done || client.destroyed) {
      upstream.destroy();
      this.#in.group.end(pick, 0, true);
      return;
    }
    this.#done = true;
    let head = `HTTP/1.1 ${status} Switching Protocols\r\n`;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2)
      head += `${text(rawHeaders[i]!)}: ${text(rawHeaders[i + 1]!)}\r\n`;
    if (this.#in.via !== '') head += `via: ${this.#in.via}\r\n`;
    const started = Date.now();
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      client.destroy();
      upstream.destroy();
      this.#in.group.end(pick, Date.now() - started, true);
    };
    upstream.on('error', end).on('close', end);
    client.on('close', end);
    (upstream as Partial<Socket>).setNoDelay?.(true);
    client.write(`${head}\r\n`);
    if (this.#in.head.length > 0) upstream.write(this.#in.head);
    upstream.pipe(client);
    client.pipe(upstream);
  }

  /** The target answered with a plain response: relay it and close. */
  refused(pick: TargetPick, status: number, rawHeaders: Buffer[]): UpstreamResponseRelay | undefined {
    this.#report(pick, responseOutcome(status));
    const client = this.#in.socket;
    if (this.#done || client.destroyed) return undefined;
    this.#done = true;
    const headers = downstreamResponseHeaders(rawHeaders, this.#in.via);
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
    }
    client.write(`${head}connection: close\r\n\r\n`);
    return {
      data: (chunk) => client.write(chunk),
      end: (ok) => {
        if (ok) client.end();
        else client.destroy();
        this.#in.group.end(pick, 0, status < 500);
      },
    };
  }

  #report(pick: TargetPick, outcome: UpstreamOutcome): void {
    pick.permit?.report(outcome);
    this.#in.group.record(pick.target, outcome);
    if (outcome.kind === 'response') pick.target.stats.status(outcome.status);
    else pick.target.stats.failure(outcome.kind);
  }

  #refuse(error: GroundworkError): void {
    if (this.#done) return;
    this.#done = true;
    const socket = this.#in.socket;
    if (socket.destroyed) return;
    socket.end(problemResponseText(error));
  }
}

interface UpstreamResponseRelay {
  data(chunk: Buffer): void;
  end(ok: boolean): void;
}

class UpgradeTry implements Dispatcher.DispatchHandler {
  timer: NodeJS.Timeout | undefined;
  #abort: ((error?: Error) => void) | undefined;
  #sent = false;
  #settled = false;
  #timedOut = false;
  #relay: UpstreamResponseRelay | undefined;

  constructor(
    readonly owner: UpgradeRequest,
    readonly pick: TargetPick,
  ) {}

  onConnect(abort: (error?: Error) => void): void {
    if (this.#settled) {
      abort(new Error('upgrade try abandoned'));
      return;
    }
    this.#abort = abort;
    this.#sent = true;
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    if (this.#settle()) this.owner.upgraded(this.pick, statusCode, headers ?? [], socket);
    else socket.destroy();
  }

  onHeaders(statusCode: number, headers: Buffer[]): boolean {
    if (statusCode < 200) return true;
    if (this.#settle()) this.#relay = this.owner.refused(this.pick, statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#relay?.data(chunk);
    return true;
  }

  onComplete(): void {
    this.#relay?.end(true);
    this.#relay = undefined;
  }

  onError(error: Error): void {
    if (this.#relay !== undefined) {
      this.#relay.end(false);
      this.#relay = undefined;
      return;
    }
    if (!this.#settle()) return;
    const outcome = this.#timedOut ? TIMEOUT : this.#sent ? RESET : CONNECT_FAILURE;
    this.owner.failed(this.pick, outcome, error);
  }

  timeout(): void {
    if (this.#settled) return;
    this.#timedOut = true;
    if (this.#abort !== undefined) {
      this.#abort(new Error('upgrade try timed out'));
      return;
    }
    this.#settle();
    this.owner.failed(this.pick, TIMEOUT, undefined);
  }

  /** Marks the try decided; false when it already was. */
  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    clearTimeout(this.timer);
    return true;
  }
}

function text(value: Buffer | string): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}
