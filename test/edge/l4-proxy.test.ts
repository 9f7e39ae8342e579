/**
 * The L4 (TCP) proxy over real loopback sockets: bytes both ways, half-close, error propagation,
 * balancing, failover (retries, passive ejection, active health checks, recovery), limits, idle
 * timeout, draining, target removal, PROXY protocol and metrics.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net, { type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { IpHash } from '../../src/edge/balancers/ip-hash.js';
import { ManualScheduler, type Scheduler } from '../../src/edge/health/scheduler.js';
import { PROXY_V2_SIGNATURE } from '../../src/edge/l4/proxy-protocol.js';
import { waitFor } from '../harness/engines.js';
import {
  type Behaviour,
  Client,
  echo,
  metric,
  type ProxyUnderTest,
  routeConfig,
  sequentialTargets,
  startProxy,
  targetOf,
  type Upstream,
  upstreams,
} from './l4-upstreams.js';

const cleanup: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

type Setup = { ups: Upstream[]; registry: Registry } & ProxyUnderTest;

async function setUp(
  count: number,
  overrides: Parameters<typeof routeConfig>[1] = {},
  behaviour?: Behaviour,
  scheduler?: Scheduler,
): Promise<Setup> {
  const ups = await upstreams(count, behaviour);
  const registry = new Registry();
  const started = await startProxy(routeConfig(ups, overrides), { registry, scheduler });
  // Run in reverse: clients first, then the upstreams (ending every proxied connection), then the proxy.
  cleanup.push(
    () => started.proxy.close(),
    async () => {
      await Promise.all(ups.map((u) => u.stop()));
    },
  );
  return { ups, registry, ...started };
}

function client(port: number, options?: ConstructorParameters<typeof Client>[1]): Client {
  const c = new Client(port, options);
  cleanup.push(() => c.close());
  return c;
}

const SECOND = 1_000;

/**
 * A port whose connects hang: a child process listens with a backlog of 1 and is stopped
 * (SIGSTOP), so it never accepts; once its accept queue is full the kernel drops further SYNs. The
 * queue is filled here until a connect no longer completes.
 */
async function unresponsiveListener(): Promise<{ address: string }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "require('net').createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, function () { console.log(this.address().port) })",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const fillers: Socket[] = [];
  cleanup.push(() => {
    for (const socket of fillers) socket.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGKILL');
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`listener child exited (${code})`)));
  });
  process.kill(child.pid!, 'SIGSTOP');
  for (let i = 0; i < 64; i++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 200);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) return { address: `127.0.0.1:${port}` };
  }
  throw new Error('the accept queue of the stopped listener never filled');
}

describe('bytes through the proxy', () => {
  it('streams 24 MiB both ways byte-exact and counts the bytes per target', async () => {
    const { port, registry, ups } = await setUp(1, {}, echo);
    const total = 24 * 1024 * 1024;
    const chunkSize = 256 * 1024;
    const c = client(port);
    const sentHash = createHash('sha256');
    const receivedHash = createHash('sha256');
    let received = 0;
    c.socket.removeAllListeners('data');
    c.socket.on('data', (chunk: Buffer) => {
      receivedHash.update(chunk);
      received += chunk.length;
    });
    for (let offset = 0; offset < total; offset += chunkSize) {
      const chunk = randomBytes(chunkSize);
      sentHash.update(chunk);
      if (!c.socket.write(chunk)) await new Promise((resolve) => c.socket.once('drain', resolve));
    }
    await waitFor(() => received >= total, { timeoutMs: 20 * SECOND, what: 'the echo of every byte' });
    expect(received).toBe(total);
    expect(receivedHash.digest('hex')).toBe(sentHash.digest('hex'));
    const target = ups[0]!.address;
    // Bytes of an open connection are visible at scrape time, not only when it ends.
    expect(await metric(registry, 'edge_tcp_received_bytes_total', { route: 'test', target })).toBe(total);
    expect(await metric(registry, 'edge_tcp_sent_bytes_total', { route: 'test', target })).toBe(total);
    c.socket.end();
    await c.waitClosed();
    await waitFor(
      async () => (await metric(registry, 'edge_tcp_connections_closed_total', { reason: 'done' })) === 1,
      {
        timeoutMs: 5 * SECOND,
        what: 'the connection to be counted as done',
      },
    );
    expect(await metric(registry, 'edge_tcp_received_bytes_total', { target })).toBe(total);
    expect(await metric(registry, 'edge_tcp_upstream_connections_total', { target })).toBe(1);
    expect(await metric(registry, 'edge_tcp_upstream_connect_duration_seconds', { target })).toBe(1);
    expect(await metric(registry, 'edge_tcp_connections_accepted_total', { route: 'test' })).toBe(1);
  });

  it('backpressure: an upstream that does not read stalls the client instead of filling the proxy', async () => {
    const paused: Socket[] = [];
    const slow: Behaviour = (socket) => {
      socket.pause();
      paused.push(socket);
    };
    const { port, registry, ups } = await setUp(1, {}, slow);
    const target = ups[0]!.address;
    const payload = randomBytes(48 * 1024 * 1024);
    const c = client(port);
    c.socket.write(payload);
    // Wait until the proxy stops reading from the client: its byte count no longer grows.
    let last = -1;
    await waitFor(
      async () => {
        const now = await metric(registry, 'edge_tcp_received_bytes_total', { target });
        const stalled = now === last && now > 0;
        last = now;
        return stalled;
      },
      { timeoutMs: 10 * SECOND, intervalMs: 200, what: 'the flow to stall' },
    );
    // What the proxy read is what the socket buffers towards the upstream hold, not the 48 MiB.
    expect(last).toBeLessThan(16 * 1024 * 1024);
    const upstreamHash = createHash('sha256');
    let got = 0;
    paused[0]!.on('data', (chunk: Buffer) => {
      upstreamHash.update(chunk);
      got += chunk.length;
    });
    paused[0]!.resume();
    await waitFor(() => got >= payload.length, {
      timeoutMs: 20 * SECOND,
      what: 'every byte at the upstream',
    });
    expect(got).toBe(payload.length);
    expect(upstreamHash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
  });

  it('forwards a client half-close: the client ends its side and still reads the whole answer', async () => {
    const counter: Behaviour = (socket) => {
      let bytes = 0;
      socket.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      socket.on('end', () => {
        // Only reachable when the client's FIN was forwarded; the answer goes back on the open half.
        socket.end(`got ${bytes}\n${'z'.repeat(100_000)}`);
      });
    };
    const { port } = await setUp(1, {}, counter);
    const c = client(port, { allowHalfOpen: true });
    c.socket.end(Buffer.alloc(70_000, 1));
    await c.until(() => c.ended, 'the answer to end');
    expect(c.text.startsWith('got 70000\n')).toBe(true);
    expect(c.received.length).toBe('got 70000\n'.length + 100_000);
    await c.waitClosed();
    expect(c.error).toBeUndefined();
  });

  it('forwards an upstream half-close: the upstream ends first and still receives what the client sends', async () => {
    const got: string[] = [];
    const greeter: Behaviour = (socket) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
      });
      socket.on('end', () => got.push(text));
      socket.end('bye\n');
    };
    const { port } = await setUp(1, {}, greeter);
    const c = client(port, { allowHalfOpen: true });
    await c.until(() => c.ended, "the upstream's FIN at the client");
    expect(c.text).toBe('bye\n');
    c.socket.end('late data after your FIN');
    await waitFor(() => got.length === 1, { timeoutMs: 5 * SECOND, what: 'the upstream to read to the end' });
    expect(got[0]).toBe('late data after your FIN');
    await c.waitClosed();
  });

  it('an upstream reset resets the client side, a client reset resets the upstream side', async () => {
    const resetter: Behaviour = (socket, upstream) => {
      socket.write(`${upstream.address}\n`);
      socket.on('data', (chunk: Buffer) => {
        if (chunk.includes('reset')) socket.resetAndDestroy();
      });
    };
    const { port, registry, ups } = await setUp(1, {}, resetter);
    const first = client(port);
    await first.firstLine();
    first.socket.write('please reset');
    await first.waitClosed();
    expect(first.error?.code).toBe('ECONNRESET');

    const second = client(port);
    await second.firstLine();
    expect(ups[0]!.sockets.size).toBe(1);
    const upstreamSocket = [...ups[0]!.sockets][0]!;
    const upstreamError = new Promise<NodeJS.ErrnoException>((resolve) =>
      upstreamSocket.once('error', resolve),
    );
    second.socket.resetAndDestroy();
    expect((await upstreamError).code).toBe('ECONNRESET');
    await waitFor(
      async () => (await metric(registry, 'edge_tcp_connections_closed_total', { reason: 'error' })) === 2,
      {
        timeoutMs: 5 * SECOND,
        what: 'both connections counted as ended by an error',
      },
    );
  });
});

describe('balancing', () => {
  it('round robin takes the targets in turn', async () => {
    const { port, ups } = await setUp(3);
    const ids = await sequentialTargets(port, 9);
    expect(new Set(ids)).toEqual(new Set(ups.map((u) => u.address)));
    for (let i = 3; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 3]);
    expect(ids[0]).not.toBe(ids[1]);
    expect(ids[1]).not.toBe(ids[2]);
  });

  it('least connections sends a new connection to the target with the fewest open ones', async () => {
    const { port, route, ups } = await setUp(3, { balancer: 'least-connections' });
    const held = [await targetOf(port), await targetOf(port), await targetOf(port)];
    for (const h of held) cleanup.push(() => h.client.close());
    expect(new Set(held.map((h) => h.id)).size).toBe(3);
    // Two more on every target but one: that one must take the next connection.
    const extra = [await targetOf(port), await targetOf(port)];
    for (const e of extra) cleanup.push(() => e.client.close());
    const idle = ups.map((u) => u.address).find((a) => !extra.some((e) => e.id === a))!;
    expect(new Set(extra.map((e) => e.id)).size).toBe(2);
    const next = await targetOf(port);
    cleanup.push(() => next.client.close());
    expect(next.id).toBe(idle);
    // Now 2 each; closing one connection of target X makes X the least loaded.
    const victim = held[0]!;
    victim.client.close();
    await waitFor(() => route.targets().find((t) => t.id === victim.id)?.activeConnections === 1, {
      timeoutMs: 5 * SECOND,
      what: 'the closed connection to be counted',
    });
    const after = await targetOf(port);
    cleanup.push(() => after.client.close());
    expect(after.id).toBe(victim.id);
    expect(route.targets().map((t) => t.activeConnections)).toEqual([2, 2, 2]);
  });

  it('ip-hash keeps each client IP on one target, the one IpHash picks for that IP', async () => {
    const { port, ups } = await setUp(3, { balancer: 'ip-hash' });
    const reference = new IpHash({
      targets: ups.map((u) => ({ id: u.address, address: u.address, weight: 1 })),
    });
    const reached = new Set<string>();
    for (let host = 10; host < 18; host++) {
      const ip = `127.0.0.${host}`;
      const ids = await sequentialTargets(port, 3, ip);
      expect(new Set(ids).size, `client ${ip}`).toBe(1);
      expect(ids[0]).toBe(reference.pick({ clientIp: ip })?.id);
      reached.add(ids[0]!);
    }
    expect(reached.size).toBeGreaterThan(1);
  });
});

describe('failover', () => {
  it('a refused connect is retried on another target: every client gets through', async () => {
    const { port, route, registry, ups } = await setUp(3, {
      outlierDetection: { consecutiveConnectFailures: 0 },
    });
    const dead = ups[2]!;
    await dead.stop();
    const ids = await sequentialTargets(port, 12);
    expect(ids).not.toContain(dead.address);
    expect(new Set(ids)).toEqual(new Set([ups[0]!.address, ups[1]!.address]));
    const stats = route.stats();
    // Round robin reaches the dead target on every third pick; each of those was retried.
    expect(stats.connectFailures).toBeGreaterThanOrEqual(3);
    expect(stats.retries).toBe(stats.connectFailures);
    expect(stats.refused['no-target']).toBe(0);
    expect(
      await metric(registry, 'edge_tcp_upstream_connect_failures_total', {
        target: dead.address,
        reason: 'refused',
      }),
    ).toBe(stats.connectFailures);
    expect(await metric(registry, 'edge_tcp_upstream_connect_retries_total', { route: 'test' })).toBe(
      stats.retries,
    );
  });

  it('connects that keep failing eject the target for the ejection time (passive checks)', async () => {
    // The ejection clock is manual: the ejection ends when the test moves time, not after 60 s.
    const time = new ManualScheduler(1_000_000);
    const { port, route, registry, ups } = await setUp(
      3,
      { outlierDetection: { consecutiveConnectFailures: 2, baseEjectionMs: 60_000 } },
      undefined,
      time,
    );
    const dead = ups[1]!;
    await dead.stop();
    const ids = await sequentialTargets(port, 15);
    expect(ids).not.toContain(dead.address);
    // Two failures eject it; after that it is not tried again.
    expect(route.stats().connectFailures).toBe(2);
    expect(route.targets().find((t) => t.id === dead.address)?.ejected).toBe(true);
    expect(await metric(registry, 'edge_tcp_target_ejected', { target: dead.address })).toBe(1);
    expect(await metric(registry, 'edge_tcp_target_ejections_total', { target: dead.address })).toBe(1);

    await dead.start();
    time.set(time.now() + 59_000);
    expect(await sequentialTargets(port, 6)).not.toContain(dead.address);
    time.set(time.now() + 1_000);
    expect(route.targets().find((t) => t.id === dead.address)?.ejected).toBe(false);
    const back = await sequentialTargets(port, 6);
    expect(back.filter((id) => id === dead.address)).toHaveLength(2);
    expect(await metric(registry, 'edge_tcp_target_ejected', { target: dead.address })).toBe(0);
  });

  it('a connect that hangs times out after connectTimeoutMs and is retried on another target', async () => {
    const stuck = await unresponsiveListener();
    const [good] = await upstreams(1);
    cleanup.push(() => good!.stop());
    const registry = new Registry();
    const { proxy, route, port } = await startProxy(
      {
        name: 'test',
        listen: { port: 0 },
        balancer: 'round-robin',
        targets: [stuck.address, good!.address],
        connectTimeoutMs: 300,
        healthCheck: { enabled: false },
      },
      { registry },
    );
    cleanup.push(() => proxy.close());
    const startedMs = Date.now();
    // Round robin starts with the first target: the stuck one.
    const { client: c, id } = await targetOf(port);
    cleanup.push(() => c.close());
    expect(id).toBe(good!.address);
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(290);
    expect(route.stats().connectFailures).toBe(1);
    expect(
      await metric(registry, 'edge_tcp_upstream_connect_failures_total', {
        target: stuck.address,
        reason: 'timeout',
      }),
    ).toBe(1);
  });

  it('when no target can be connected the client is closed and counted as no-target', async () => {
    const { port, route, registry, ups } = await setUp(2, { connectTries: 2 });
    await Promise.all(ups.map((u) => u.stop()));
    const c = client(port);
    await c.waitClosed();
    expect(c.received.length).toBe(0);
    expect(route.stats().connectFailures).toBe(2);
    expect(await metric(registry, 'edge_tcp_connections_refused_total', { reason: 'no-target' })).toBe(1);
  });

  it('active health checks take a dead target out, then bring it back when it listens again', async () => {
    const { port, route, registry, ups } = await setUp(3, {
      healthCheck: { intervalMs: 20, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 2 },
      outlierDetection: { consecutiveConnectFailures: 0 },
    });
    const dead = ups[0]!;
    const health = () => route.targets().find((t) => t.id === dead.address)!.healthy;
    expect(health()).toBe(true);
    await dead.stop();
    await waitFor(() => !health(), {
      timeoutMs: 5 * SECOND,
      what: 'the health check to mark the target down',
    });
    expect(await metric(registry, 'edge_tcp_target_healthy', { target: dead.address })).toBe(0);
    const failuresBefore = route.stats().connectFailures;
    const ids = await sequentialTargets(port, 12);
    expect(ids).not.toContain(dead.address);
    // Detected as down, the target is no longer even tried.
    expect(route.stats().connectFailures).toBe(failuresBefore);

    await dead.start();
    await waitFor(health, { timeoutMs: 5 * SECOND, what: 'the health check to bring the target back' });
    expect(await metric(registry, 'edge_tcp_target_healthy', { target: dead.address })).toBe(1);
    const again = await sequentialTargets(port, 6);
    expect(again.filter((id) => id === dead.address)).toHaveLength(2);
  });
});

describe('limits and timeouts', () => {
  it('over maxConnections a client is closed at once without reaching an upstream', async () => {
    const { port, route, ups } = await setUp(1, { maxConnections: 2 });
    const a = await targetOf(port);
    const b = await targetOf(port);
    cleanup.push(
      () => a.client.close(),
      () => b.client.close(),
    );
    const refused = client(port);
    refused.socket.write('hello?');
    await refused.waitClosed();
    expect(refused.received.length).toBe(0);
    expect(ups[0]!.accepted).toBe(2);
    expect(route.stats().refused.limit).toBe(1);
    // A freed slot admits the next one.
    a.client.close();
    await waitFor(() => route.activeConnections === 1, { timeoutMs: 5 * SECOND, what: 'the slot to free' });
    const c = await targetOf(port);
    cleanup.push(() => c.client.close());
    expect(ups[0]!.accepted).toBe(3);
  });

  it('with a queue, an extra client waits unread for a free slot and is then served in full', async () => {
    const { port, route, ups } = await setUp(1, { maxConnections: 1, maxQueued: 1, queueTimeoutMs: 10_000 });
    const first = await targetOf(port);
    cleanup.push(() => first.client.close());
    const waiting = client(port);
    waiting.socket.write('sent while queued');
    await waitFor(() => route.queuedConnections === 1, {
      timeoutMs: 5 * SECOND,
      what: 'the client to be queued',
    });
    const third = client(port);
    await third.waitClosed();
    expect(route.stats().refused.limit).toBe(1);
    expect(ups[0]!.accepted).toBe(1);
    first.client.close();
    await waiting.waitForText('sent while queued');
    expect(waiting.text).toBe(`${ups[0]!.address}\nsent while queued`);
    expect(route.queuedConnections).toBe(0);
  });

  it('a queued client is closed after queueTimeoutMs', async () => {
    const { port, route } = await setUp(1, { maxConnections: 1, maxQueued: 5, queueTimeoutMs: 150 });
    const first = await targetOf(port);
    cleanup.push(() => first.client.close());
    const startedMs = Date.now();
    const waiting = client(port);
    await waiting.waitClosed();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(140);
    expect(waiting.received.length).toBe(0);
    expect(route.stats().refused['queue-timeout']).toBe(1);
  });

  it('a connection idle for idleTimeoutMs is closed; one with traffic is not', async () => {
    const { port, route } = await setUp(1, { idleTimeoutMs: 300 });
    const busy = await targetOf(port);
    cleanup.push(() => busy.client.close());
    const quiet = await targetOf(port);
    const openedMs = Date.now();
    // 18 × 50 ms of echoed pings: 900 ms of life, never 300 ms without a byte.
    for (let i = 0; i < 18; i++) {
      busy.client.socket.write('.');
      await busy.client.waitForText('.'.repeat(i + 1));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await quiet.client.waitClosed();
    expect(quiet.client.closed).toBe(true);
    expect(busy.client.closed).toBe(false);
    expect(Date.now() - openedMs).toBeGreaterThanOrEqual(300);
    await busy.client.waitClosed(5 * SECOND);
    await waitFor(() => route.stats().closed['idle-timeout'] === 2, {
      timeoutMs: 5 * SECOND,
      what: 'both connections counted as closed by the idle timeout',
    });
  });
});

describe('draining', () => {
  it('close() stops accepting at once and waits for open connections to finish', async () => {
    const { port, proxy, route } = await setUp(1);
    const open = await targetOf(port);
    cleanup.push(() => open.client.close());
    let closed = false;
    const closing = proxy.close().then(() => {
      closed = true;
    });
    await waitFor(() => route.port === 0, { timeoutMs: 5 * SECOND, what: 'the listener to close' });
    const late = client(port);
    await late.waitClosed();
    expect(late.error?.code).toBe('ECONNREFUSED');
    // The open connection still works both ways while the route drains.
    open.client.socket.write('still here');
    await open.client.waitForText('still here');
    expect(closed).toBe(false);
    open.client.socket.end();
    await closing;
    expect(route.stats().closed.done).toBe(1);
  });

  it('connections still open after drainTimeoutMs are cut', async () => {
    const { port, proxy, route } = await setUp(1, { drainTimeoutMs: 100 });
    const open = await targetOf(port);
    cleanup.push(() => open.client.close());
    const startedMs = Date.now();
    await proxy.close();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(90);
    await open.client.waitClosed();
    expect(route.stats().closed['drain-timeout']).toBe(1);
  });

  it('a removed target takes no new connections and its open ones drain, then are cut', async () => {
    const { port, route, ups } = await setUp(2, { drainTimeoutMs: 200 });
    const [a, b] = [ups[0]!, ups[1]!];
    const onB = (await sequentialTargets(port, 2)).includes(b.address);
    expect(onB).toBe(true);
    const held = await targetOf(port);
    const second = await targetOf(port);
    cleanup.push(
      () => held.client.close(),
      () => second.client.close(),
    );
    const kept = held.id === b.address ? held : second;
    expect(kept.id).toBe(b.address);
    route.setTargets([{ address: a.address, weight: 1 }]);
    expect(route.targets().find((t) => t.id === b.address)?.draining).toBe(true);
    kept.client.socket.write('draining but alive');
    await kept.client.waitForText('draining but alive');
    const ids = await sequentialTargets(port, 4);
    expect(ids).toEqual([a.address, a.address, a.address, a.address]);
    await kept.client.waitClosed();
    await waitFor(() => route.stats().closed['target-removed'] === 1, {
      timeoutMs: 5 * SECOND,
      what: 'the connection counted as cut by the target removal',
    });
    expect(route.targets().map((t) => t.id)).toEqual([a.address]);
  });
});

describe('PROXY protocol', () => {
  const capture = (into: Buffer[]): Behaviour => {
    return (socket: Socket) => {
      socket.on('data', (chunk: Buffer) => into.push(chunk));
      socket.on('end', () => socket.end());
    };
  };

  it('v1 sends the client and route addresses as a text line before the client bytes', async () => {
    const seen: Buffer[] = [];
    const { port } = await setUp(1, { proxyProtocol: 'v1' }, capture(seen));
    const c = client(port);
    await new Promise<void>((resolve) => c.socket.once('connect', resolve));
    c.socket.write('payload');
    await waitFor(() => Buffer.concat(seen).includes('payload'), {
      timeoutMs: 5 * SECOND,
      what: 'the payload',
    });
    expect(Buffer.concat(seen).toString('latin1')).toBe(
      `PROXY TCP4 127.0.0.1 127.0.0.1 ${c.socket.localPort} ${port}\r\npayload`,
    );
  });

  it('v2 sends the binary header with the client and route addresses', async () => {
    const seen: Buffer[] = [];
    const { port } = await setUp(1, { proxyProtocol: 'v2' }, capture(seen));
    const c = client(port);
    await new Promise<void>((resolve) => c.socket.once('connect', resolve));
    c.socket.write('payload');
    await waitFor(() => Buffer.concat(seen).includes('payload'), {
      timeoutMs: 5 * SECOND,
      what: 'the payload',
    });
    const bytes = Buffer.concat(seen);
    expect(bytes.subarray(0, 12).equals(PROXY_V2_SIGNATURE)).toBe(true);
    expect([bytes[12], bytes[13], bytes.readUInt16BE(14)]).toEqual([0x21, 0x11, 12]);
    expect([...bytes.subarray(16, 24)]).toEqual([127, 0, 0, 1, 127, 0, 0, 1]);
    expect([bytes.readUInt16BE(24), bytes.readUInt16BE(26)]).toEqual([c.socket.localPort, port]);
    expect(bytes.subarray(28).toString()).toBe('payload');
  });
});
