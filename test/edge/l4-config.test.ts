/**
 * The L4 route schema (defaults, shorthands, refusals with the route and option named), the listen
 * failure, and the PROXY protocol header encoder.
 */
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GroundworkError } from '../../src/core/errors.js';
import { PROXY_V2_SIGNATURE, proxyProtocolHeader } from '../../src/edge/l4/proxy-protocol.js';
import { parseTcpAddress, tcpRouteSchema, tcpRoutesSchema } from '../../src/edge/l4/tcp-config.js';
import { parseTcpRoutes, TcpProxy } from '../../src/edge/l4/tcp-proxy.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function errorOf(run: () => unknown): GroundworkError {
  try {
    run();
  } catch (error) {
    if (error instanceof GroundworkError) return error;
    throw error;
  }
  throw new Error('expected a GroundworkError');
}

describe('tcpRouteSchema', () => {
  it('fills in the defaults and accepts host:port strings as targets', () => {
    const route = tcpRouteSchema.parse({
      name: 'pg',
      listen: { port: 6432 },
      targets: ['10.0.0.1:5432', { address: '[2001:db8::1]:5432', weight: 3 }],
    });
    expect(route).toMatchObject({
      listen: { host: '127.0.0.1', port: 6432 },
      balancer: 'least-connections',
      targets: [
        { address: '10.0.0.1:5432', weight: 1 },
        { address: '[2001:db8::1]:5432', weight: 3 },
      ],
      connectTries: 3,
      maxConnections: 10_000,
      maxQueued: 0,
      idleTimeoutMs: 3_600_000,
      proxyProtocol: 'off',
      healthCheck: { enabled: true, intervalMs: 5_000, healthyThreshold: 2, unhealthyThreshold: 3 },
      outlierDetection: { consecutiveConnectFailures: 3, maxEjectionPercent: 50 },
    });
    expect(parseTcpAddress('[2001:db8::1]:5432')).toEqual({ host: '2001:db8::1', port: 5432 });
    expect(parseTcpAddress('db.internal:5433')).toEqual({ host: 'db.internal', port: 5433 });
  });

  it('refuses bad addresses, balancers and duplicate targets', () => {
    const base = { name: 'r', listen: { port: 1 } };
    for (const bad of [
      '10.0.0.1',
      '10.0.0.1:0',
      '10.0.0.1:70000',
      'http://x:1',
      ':5432',
      '2001:db8::1:5432',
    ]) {
      expect(tcpRouteSchema.safeParse({ ...base, targets: [bad] }).success, bad).toBe(false);
    }
    expect(tcpRouteSchema.safeParse({ ...base, targets: ['a:1'], balancer: 'peak-ewma' }).success).toBe(
      false,
    );
    expect(tcpRouteSchema.safeParse({ ...base, targets: [] }).success).toBe(false);
    expect(tcpRouteSchema.safeParse({ ...base, targets: ['a:1', { address: 'a:1' }] }).success).toBe(false);
    expect(tcpRouteSchema.safeParse({ ...base, targets: ['a:1'], unknown: 1 }).success).toBe(false);
  });

  it('describes every option, nested ones included (the docs table is generated from them)', () => {
    interface Node {
      description?: string;
      properties?: Record<string, Node>;
      items?: Node;
    }
    const root = z.toJSONSchema(tcpRoutesSchema, { io: 'input', unrepresentable: 'any' }) as Node;
    expect(root.description).toBeTruthy();
    const route = root.items!;
    const missing: string[] = [];
    const walk = (node: Node, path: string): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        if (!child.description) missing.push(`${path}${key}`);
        walk(child, `${path}${key}.`);
      }
    };
    walk(route, '');
    expect(Object.keys(route.properties ?? {})).toContain('proxyProtocol');
    expect(missing).toEqual([]);
  });
});

describe('parseTcpRoutes', () => {
  it('names the route and the option of each problem, with EDGE_ERR_INVALID_TCP_ROUTE', () => {
    const error = errorOf(() =>
      parseTcpRoutes([
        { name: 'ok', listen: { port: 7000 }, targets: ['a:1'] },
        { name: 'ok', listen: { port: 7000 }, targets: ['a:1'], connectTries: 0 },
      ]),
    );
    expect(error.code).toBe('EDGE_ERR_INVALID_TCP_ROUTE');
    expect(error.message).toContain('route "ok".connectTries');
    expect(error.message).toContain('route name "ok" appears twice');
    expect(error.message).toContain('two routes listen on 127.0.0.1:7000');
  });

  it('the proxy refuses an invalid route at construction, before binding anything', () => {
    const error = errorOf(
      () => new TcpProxy({ routes: [{ name: 'Bad Name', listen: { port: 0 }, targets: ['a:1'] }] }),
    );
    expect(error.code).toBe('EDGE_ERR_INVALID_TCP_ROUTE');
    expect(error.message).toContain('route "Bad Name".name');
  });

  it('a port already in use fails start with EDGE_ERR_TCP_LISTEN and closes the routes already started', async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => squatter.close(() => resolve())));
    const taken = (squatter.address() as AddressInfo).port;
    const proxy = new TcpProxy({
      routes: [
        { name: 'first', listen: { port: 0 }, targets: ['127.0.0.1:1'], healthCheck: { enabled: false } },
        {
          name: 'second',
          listen: { port: taken },
          targets: ['127.0.0.1:1'],
          healthCheck: { enabled: false },
        },
      ],
    });
    const failure = await proxy.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(GroundworkError);
    expect((failure as GroundworkError).code).toBe('EDGE_ERR_TCP_LISTEN');
    expect((failure as GroundworkError).message).toContain(
      `"second" cannot listen on 127.0.0.1:${taken} (EADDRINUSE)`,
    );
    expect(proxy.route('first')?.port).toBe(0);
  });
});

describe('proxyProtocolHeader', () => {
  const v4 = {
    sourceAddress: '203.0.113.9',
    sourcePort: 51234,
    destinationAddress: '10.0.0.1',
    destinationPort: 6432,
  };

  it('v1: TCP4, TCP6, IPv4-mapped addresses as TCP4, UNKNOWN without addresses', () => {
    expect(proxyProtocolHeader('v1', v4).toString()).toBe('PROXY TCP4 203.0.113.9 10.0.0.1 51234 6432\r\n');
    expect(
      proxyProtocolHeader('v1', {
        sourceAddress: '2001:db8::9',
        sourcePort: 1,
        destinationAddress: '::1',
        destinationPort: 2,
      }).toString(),
    ).toBe('PROXY TCP6 2001:db8:0:0:0:0:0:9 0:0:0:0:0:0:0:1 1 2\r\n');
    expect(
      proxyProtocolHeader('v1', {
        ...v4,
        sourceAddress: '::ffff:203.0.113.9',
        destinationAddress: '::ffff:10.0.0.1',
      }).toString(),
    ).toBe('PROXY TCP4 203.0.113.9 10.0.0.1 51234 6432\r\n');
    expect(proxyProtocolHeader('v1', { ...v4, sourceAddress: undefined }).toString()).toBe(
      'PROXY UNKNOWN\r\n',
    );
  });

  it('v2: signature, PROXY command, family, length, addresses and ports in network order', () => {
    const header = proxyProtocolHeader('v2', v4);
    expect(header.subarray(0, 12).equals(PROXY_V2_SIGNATURE)).toBe(true);
    expect([...header.subarray(12)]).toEqual([
      0x21,
      0x11,
      0,
      12,
      203,
      0,
      113,
      9,
      10,
      0,
      0,
      1,
      51234 >> 8,
      51234 & 0xff,
      6432 >> 8,
      6432 & 0xff,
    ]);
    const six = proxyProtocolHeader('v2', {
      sourceAddress: '2001:db8::9',
      sourcePort: 1,
      destinationAddress: '::ffff:10.0.0.1',
      destinationPort: 2,
    });
    expect([six[12], six[13], six.readUInt16BE(14), six.length]).toEqual([0x21, 0x21, 36, 52]);
    expect(six.subarray(16, 32).toString('hex')).toBe('20010db8000000000000000000000009');
    expect(six.subarray(32, 48).toString('hex')).toBe('00000000000000000000ffff0a000001');
    const local = proxyProtocolHeader('v2', { ...v4, destinationPort: undefined });
    expect([...local.subarray(12)]).toEqual([0x20, 0x00, 0x00, 0x00]);
  });
});
