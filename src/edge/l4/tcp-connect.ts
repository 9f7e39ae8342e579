/**
 * One connect to an upstream target, bounded by a timeout, that never rejects: it resolves with the
 * connected socket or with why it failed, so the route's retry loop reads as a loop. The socket is
 * half-open capable (`allowHalfOpen`, needed to forward a FIN in one direction only) and has Nagle
 * off (`noDelay`: a proxy must not hold back the small request/response messages of protocols like
 * PostgreSQL's; the client side does the same).
 *
 * A failure here always means no byte was sent: nothing is written before `connect`. That is what
 * makes retrying on another target safe for any protocol.
 */
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ConnectFailureReason } from './tcp-metrics.js';

export type ConnectResult =
  | { readonly ok: true; readonly socket: Socket; readonly durationMs: number }
  | {
      readonly ok: false;
      readonly reason: ConnectFailureReason;
      readonly error: Error;
      readonly durationMs: number;
    };

export interface ConnectOptions {
  /** A connect still pending after this many ms is abandoned (`timeout`). */
  readonly timeoutMs: number;
  /** Receives the socket as soon as it exists, so the caller can destroy it (shutdown) meanwhile. */
  readonly onSocket?: ((socket: Socket) => void) | undefined;
}

function ignore(): void {}

/** Connects to `host:port`; see the file header. A socket destroyed by the caller resolves as `error`. */
export function connectTcp(host: string, port: number, options: ConnectOptions): Promise<ConnectResult> {
  const startedMs = performance.now();
  return new Promise<ConnectResult>((resolve) => {
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    let settled = false;
    const fail = (reason: ConnectFailureReason, error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, reason, error, durationMs: performance.now() - startedMs });
    };
    const timer = setTimeout(() => {
      fail('timeout', new Error(`connect to ${host}:${port} timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const onError = (error: NodeJS.ErrnoException): void => {
      fail(error.code === 'ECONNREFUSED' ? 'refused' : 'error', error);
    };
    const onClose = (): void => fail('error', new Error(`connect to ${host}:${port} was aborted`));
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      // An error before the caller's listeners are attached (they come a tick later) must not crash
      // the process; the caller still sees it as a close with `hadError`.
      socket.on('error', ignore);
      resolve({ ok: true, socket, durationMs: performance.now() - startedMs });
    });
    options.onSocket?.(socket);
  });
}
