/**
 * Loopback TCP upstreams and clients for the L4 proxy tests. Each upstream is a real `net.Server` on
 * 127.0.0.1 that can be stopped (listener closed, its sockets destroyed) and started again on the
 * same port, to play a target that dies and comes back.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { TcpRouteInput } from '../../src/edge/l4/tcp-config.js';
import { TcpProxy, type TcpProxyOptions } from '../../src/edge/l4/tcp-proxy.js';
import type { TcpRoute } from '../../src/edge/l4/tcp-route.js';

/** What an upstream does with each connection. */
export type Behaviour = (socket: Socket, upstream: Upstream) => void;

/** Writes `<address>\n` (its id, as the route knows it), then echoes. */
export const idThenEcho: Behaviour = (socket, upstream) => {
  socket.write(`${upstream.address}\n`);
  socket.pipe(socket);
};

export const echo: Behaviour = (socket) => {
  socket.pipe(socket);
};

export class Upstream {
  readonly sockets = new Set<Socket>();
  /** Connections accepted since creation (over restarts). */
  accepted = 0;
  #server: Server | undefined;
  #port = 0;

  constructor(readonly behaviour: Behaviour) {}

  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:PORT`: the target address and id in the route. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Listens (again, on the same port after `stop`). */
  async start(): Promise<this> {
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => this.sockets.delete(socket));
      this.behaviour(socket, this);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: this.#port }, () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Closes the listener (new connects are refused) and destroys every open connection. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export async function upstreams(count: number, behaviour: Behaviour = idThenEcho): Promise<Upstream[]> {
  return Promise.all(Array.from({ length: count }, () => new Upstream(behaviour).start()));
}

/**
 * A client socket that collects what it receives and remembers how it ended. Its waits are checked
 * on every socket event (no polling), with a timeout.
 */
export class Client {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(port: number, options: { localAddress?: string; allowHalfOpen?: boolean } = {}) {
    this.socket = net.connect({
      host: '127.0.0.1',
      port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      allowHalfOpen: options.allowHalfOpen ?? false,
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.#check();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.#check();
    });
    this.socket.on('error', (error) => {
      this.error = error;
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.#check();
    });
  }

  /** Resolves when `condition` holds (checked now and after every data, end and close event). */
  until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (received "${this.text}")`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  #check(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  get text(): string {
    return this.received.toString('utf8');
  }

  /** The first line received (the target's id with `idThenEcho`). */
  async firstLine(timeoutMs = 5_000): Promise<string> {
    await this.until(() => this.text.includes('\n') || this.closed, 'a first line', timeoutMs);
    if (!this.text.includes('\n')) throw new Error(`connection closed before a line (got "${this.text}")`);
    return this.text.split('\n')[0]!;
  }

  async waitClosed(timeoutMs = 5_000): Promise<void> {
    await this.until(() => this.closed, 'the client connection to close', timeoutMs);
  }

  async waitForText(text: string, timeoutMs = 5_000): Promise<void> {
    await this.until(() => this.text.includes(text), `"${text}"`, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Opens a connection and returns the id of the target it reached. */
export async function targetOf(port: number, localAddress?: string): Promise<{ client: Client; id: string }> {
  const client = new Client(port, localAddress === undefined ? {} : { localAddress });
  try {
    return { client, id: await client.firstLine() };
  } catch (error) {
    client.close();
    throw error;
  }
}

/** Opens and closes `count` connections one after another; the ids reached, in order. */
export async function sequentialTargets(
  port: number,
  count: number,
  localAddress?: string,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { client, id } = await targetOf(port, localAddress);
    ids.push(id);
    client.close();
    await client.waitClosed();
  }
  return ids;
}

/** A route on 127.0.0.1:0 over `targets`; round robin, health checks off unless overridden. */
export function routeConfig(
  targets: readonly Upstream[],
  overrides: Partial<TcpRouteInput> = {},
): TcpRouteInput {
  return {
    name: 'test',
    listen: { host: '127.0.0.1', port: 0 },
    balancer: 'round-robin',
    targets: targets.map((t) => t.address),
    healthCheck: { enabled: false },
    ...overrides,
  };
}

export interface ProxyUnderTest {
  proxy: TcpProxy;
  route: TcpRoute;
  port: number;
}

export async function startProxy(
  config: TcpRouteInput,
  options: Omit<TcpProxyOptions, 'routes'> = {},
): Promise<ProxyUnderTest> {
  const proxy = new TcpProxy({ ...options, routes: [config] });
  await proxy.start();
  const route = proxy.routes[0]!;
  return { proxy, route, port: route.port };
}

/** The value of the series of metric `name` whose labels include `labels` (0 when absent). */
export async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string | number>,
): Promise<number> {
  const found = registry.getSingleMetric(name);
  if (found === undefined) return 0;
  const { values } = await found.get();
  let sum = 0;
  for (const value of values) {
    const matches = Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted);
    // A histogram has several series per label set: only `_count` is summed.
    const { metricName } = value as { metricName?: string };
    const isCount = metricName === undefined || metricName.endsWith('_count');
    if (matches && isCount) sum += value.value;
  }
  return sum;
}
