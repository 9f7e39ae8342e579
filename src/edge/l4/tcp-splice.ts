/**
 * Joins a client socket and an upstream socket into one proxied connection, the way a TCP proxy
 * must:
 *
 * - **Both directions stream with backpressure** (`pipe`): when one side reads slower than the other
 *   writes, the writer is paused, so memory stays bounded by the sockets' buffers whatever the size
 *   of the transfer.
 * - **Half-close is forwarded.** Both sockets are `allowHalfOpen`: a FIN from one side ends only the
 *   other side's write direction (`pipe` calls `end()`), and bytes keep flowing the other way until
 *   that side sends its own FIN (a client may send a request, shut down its write side, and still
 *   read the whole answer). `stream.pipeline` is not used for this reason: it tears down a socket
 *   once its write side finished, cutting the direction that is still open.
 * - **An error on one side resets the other**: a reset (ECONNRESET), a broken pipe or any socket
 *   error ends both at once, and the surviving peer gets a TCP reset, not a FIN, so it cannot take
 *   a cut-off stream for a complete one (a protocol that ends its message at close would). Cuts by
 *   the route mid-stream (drain timeout, removed target) reset too; an idle timeout closes with a
 *   FIN, as nothing is in flight. A side that closes cleanly is never destroyed from here: its
 *   peer may still be flushing.
 * - **Idle timeout**: no byte in either direction for `idleTimeoutMs` cuts both. Every byte passes
 *   through the client socket (read from it or written to it), and Node resets a socket's timeout
 *   on both, so one timer on the client side covers the connection.
 *
 * `onEnd` fires once, after both sockets have closed, with why it ended.
 */
import type { Socket } from 'node:net';
import type { CloseReason } from './tcp-metrics.js';

export interface SpliceOptions {
  /** 0: never. */
  readonly idleTimeoutMs: number;
  readonly onEnd: (reason: CloseReason) => void;
}

export class Splice {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #onEnd: (reason: CloseReason) => void;
  #reason: CloseReason | undefined;
  #open = 2;

  constructor(client: Socket, upstream: Socket, options: SpliceOptions) {
    this.#client = client;
    this.#upstream = upstream;
    this.#onEnd = options.onEnd;
    const onError = (): void => this.cut('error');
    const onClose = (hadError: boolean): void => {
      if (hadError) this.cut('error');
      if (--this.#open === 0) this.#onEnd(this.#reason ?? 'done');
    };
    client.on('error', onError);
    upstream.on('error', onError);
    client.once('close', onClose);
    upstream.once('close', onClose);
    if (options.idleTimeoutMs > 0) {
      client.setTimeout(options.idleTimeoutMs);
      client.once('timeout', () => this.cut('idle-timeout'));
    }
    upstream.pipe(client);
    client.pipe(upstream);
    // pauseOnConnect left the client's reading stopped; pipe() resumes the stream, and this makes
    // sure the handle reads again too.
    client.resume();
  }

  /** Destroys both sockets now (see the header for reset or FIN); the first reason is the one reported. */
  cut(reason: CloseReason): void {
    this.#reason ??= reason;
    if (reason === 'idle-timeout') {
      this.#client.destroy();
      this.#upstream.destroy();
      return;
    }
    reset(this.#client);
    reset(this.#upstream);
  }

  get reason(): CloseReason | undefined {
    return this.#reason;
  }
}

/** Closes with a TCP RST (SO_LINGER 0); a socket already gone is left alone. */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  socket.resetAndDestroy();
}
