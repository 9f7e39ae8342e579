import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Component } from '../core/lifecycle.js';
import type { HttpApp } from './http-app.js';

export interface ListenOptions {
  host: string;
  port: number;
  drainTimeoutMs: number;
}

/**
 * The listening half of the HTTP app as a lifecycle component. `close` drains: stop accepting,
 * answer new requests on open connections with 503 + `Connection: close`, let in-flight ones
 * finish, close idle keep-alive sockets, and after `drainTimeoutMs` cut whatever is left.
 */
export class HttpListener implements Component {
  readonly name = 'http';
  readonly #http: HttpApp;
  readonly #options: ListenOptions;
  readonly #sockets = new Set<Socket>();
  #draining = false;
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(http: HttpApp, options: ListenOptions) {
    this.#http = http;
    this.#options = options;
    const track = (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    };
    http.server.on('connection', track);
    http.server.on('secureConnection', track);
    // A response finished while draining closes its HTTP/1.1 connection instead of keeping it.
    // Callback style: no promise per response for a hook that never waits.
    http.app.addHook('onSend', (request, reply, _payload, done) => {
      if (this.#draining && request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
      done();
    });
  }

  get app(): FastifyInstance {
    return this.#http.app;
  }

  /** The bound address (port resolved when 0 was asked for). */
  get port(): number {
    const address = this.#http.server.address();
    return typeof address === 'object' && address ? address.port : this.#options.port;
  }

  get secure(): boolean {
    return this.#http.secure;
  }

  get draining(): boolean {
    return this.#draining;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#http.app.listen({ host: this.#options.host, port: this.#options.port });
  }

  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    const timer = setTimeout(() => {
      this.#http.app.log.warn(
        { open: this.#sockets.size },
        'drain timeout reached: closing open connections',
      );
      for (const socket of this.#sockets) socket.destroy();
    }, this.#options.drainTimeoutMs);
    timer.unref();
    try {
      await this.#http.app.close();
    } finally {
      clearTimeout(timer);
    }
  }
}
