import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ActiveHealthChecker, type HealthTransition } from '../../src/edge/health/active-health-checker.js';
import { probeHttp, probeTcp } from '../../src/edge/health/probes.js';
import { waitFor } from '../harness/engines.js';

const servers: Server[] = [];

/** An HTTP server on 127.0.0.1: `/healthz` answers `status`, `/hang` never answers. */
async function upstream(state: { status: number }, port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === '/hang') return; // never answers
    res.writeHead(state.status, { 'content-type': 'text/plain' }).end('x'.repeat(10_000));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

afterEach(async () => {
  await Promise.all(
    servers
      .splice(0)
      .filter((s) => s.listening)
      .map(close),
  );
});

const signal = () => AbortSignal.timeout(5_000);

describe('probeHttp', () => {
  it('passes on 2xx/3xx, fails on other statuses, honours expectStatus', async () => {
    const state = { status: 200 };
    const { port } = await upstream(state);
    const url = `http://127.0.0.1:${port}/healthz`;
    expect(await probeHttp(url, { signal: signal() })).toBe(200);
    state.status = 503;
    await expect(probeHttp(url, { signal: signal() })).rejects.toThrow(/answered 503/);
    expect(await probeHttp(url, { signal: signal(), expectStatus: (s) => s === 503 })).toBe(503);
  });

  it('fails on a refused connection', async () => {
    const { server, port } = await upstream({ status: 200 });
    await close(server);
    await expect(probeHttp(`http://127.0.0.1:${port}/healthz`, { signal: signal() })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('an abort ends the request and closes its socket', async () => {
    const { server, port } = await upstream({ status: 200 });
    let closed = 0;
    let requests = 0;
    server.on('connection', (socket) => socket.on('close', () => closed++));
    server.on('request', () => requests++);
    const controller = new AbortController();
    const probing = probeHttp(`http://127.0.0.1:${port}/hang`, { signal: controller.signal });
    await waitFor(() => requests === 1, { timeoutMs: 2_000, what: 'the probe request to arrive' });
    expect(closed).toBe(0);
    controller.abort(new Error('probe timed out'));
    await expect(probing).rejects.toThrow();
    await waitFor(() => closed === 1, { timeoutMs: 2_000, what: 'the probe socket to close' });
  });
});

describe('probeTcp', () => {
  it('passes when the port accepts a connection, fails when refused or already aborted', async () => {
    const { server, port } = await upstream({ status: 200 });
    await expect(probeTcp('127.0.0.1', port, { signal: signal() })).resolves.toBeUndefined();
    const aborted = AbortSignal.abort(new Error('stopped'));
    await expect(probeTcp('127.0.0.1', port, { signal: aborted })).rejects.toThrow('stopped');
    await close(server);
    await expect(probeTcp('127.0.0.1', port, { signal: signal() })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });
});

describe('ActiveHealthChecker on real sockets', () => {
  it('marks a killed upstream down, keeps the others up, and brings it back when it returns', async () => {
    const a = await upstream({ status: 200 });
    const b = await upstream({ status: 200 });
    const transitions: HealthTransition<number>[] = [];
    const checker = new ActiveHealthChecker<number>({
      probe: (port, s) => probeHttp(`http://127.0.0.1:${port}/healthz`, { signal: s }),
      intervalMs: 30,
      timeoutMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      onTransition: (t) => transitions.push(t),
    });
    try {
      checker.add('a', a.port);
      checker.add('b', b.port);
      await waitFor(() => (checker.status('b')?.probes ?? 0) >= 2, {
        timeoutMs: 5_000,
        what: 'first probes',
      });
      expect(transitions).toEqual([]);
      await close(b.server);
      await waitFor(() => !checker.isHealthy('b'), { timeoutMs: 5_000, what: 'b to be marked down' });
      expect(transitions).toEqual([expect.objectContaining({ id: 'b', healthy: false })]);
      expect(checker.isHealthy('a')).toBe(true);
      await upstream({ status: 200 }, b.port);
      await waitFor(() => checker.isHealthy('b'), { timeoutMs: 5_000, what: 'b to be marked up again' });
      expect(transitions.map((t) => [t.id, t.healthy])).toEqual([
        ['b', false],
        ['b', true],
      ]);
      expect(checker.status('a')!.failures).toBe(0);
    } finally {
      checker.stop();
    }
  });
});
