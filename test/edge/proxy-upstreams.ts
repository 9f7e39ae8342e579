/**
 * Real upstream HTTP servers on loopback ports for the edge proxy suites: each answers with its own
 * name in `x-upstream` (so a test sees which target served) and can be stopped (every connection
 * cut, the port refusing) and started again on the same port, like a process that was killed and
 * restarted. `request` sends one request through the edge over a fresh connection.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { freePort } from '../harness/engines.js';

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface TestUpstream {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Requests received, in order (method and url). */
  readonly received: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  /** Replaces the handler (default: 200 with `ok <name>`). */
  handle(handler: UpstreamHandler): void;
  /** Serves `upgrade` requests (kept across restarts). */
  onUpgrade(handler: UpgradeHandler): void;
  /** Closes the listener and destroys every open connection (a killed process). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
}

const live = new Set<TestUpstream>();

export async function startUpstream(name: string, handler?: UpstreamHandler): Promise<TestUpstream> {
  let current: UpstreamHandler =
    handler ??
    ((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${name}`);
    });
  const received: TestUpstream['received'] = [];
  const sockets = new Set<Socket>();
  let upgrade: UpgradeHandler | undefined;
  let server: Server;
  const make = (): Server => {
    const s = createServer((req, res) => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      res.setHeader('x-upstream', name);
      current(req, res);
    });
    s.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      if (upgrade) upgrade(req, socket, head);
      else socket.destroy();
    });
    s.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    return s;
  };
  server = make();
  // A port below the ephemeral range: a restart can bind it again (no outgoing socket takes it).
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await listen(server, port);
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
  const upstream: TestUpstream = {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    handle(next) {
      current = next;
    },
    onUpgrade(handler) {
      upgrade = handler;
    },
    async stop() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async restart() {
      if (server.listening) return;
      server = make();
      await listen(server, port);
    },
  };
  live.add(upstream);
  return upstream;
}

/** Stops every upstream started by this file's tests. */
export async function stopAllUpstreams(): Promise<void> {
  await Promise.all([...live].map((u) => u.stop()));
  live.clear();
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export interface ProxiedResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** One request over a new connection (no keep-alive reuse between tests). */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<ProxiedResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A port that refuses connections (nothing listens on it; below the ephemeral range). */
export function refusedPort(): Promise<number> {
  return freePort();
}
