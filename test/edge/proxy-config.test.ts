/**
 * The edge's pure parts: the `edge` config schema, route matching, forwarding headers (including
 * an untrusted peer, which loopback tests cannot produce), and fault-injection draws.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/core/config.js';
import { GroundworkError } from '../../src/core/errors.js';
import { decideFault } from '../../src/edge/proxy/fault-injection.js';
import {
  downstreamResponseHeaders,
  forwardedElement,
  upstreamRequestHeaders,
} from '../../src/edge/proxy/forwarding-headers.js';
import { requestHost } from '../../src/edge/routing/host-match.js';
import { hasDotSegment, RouteTable, upstreamPath } from '../../src/edge/routing/route-table.js';
import { cookieValue } from '../../src/edge/upstream/upstream-group.js';

const edge = (values: unknown) => resolveConfig({ file: { path: 'test', values: { edge: values } } }).edge;
const group = { targets: [{ url: 'http://127.0.0.1:8081' }] };

describe('edge config', () => {
  it('fills defaults and keeps the edge off without routes', () => {
    const config = edge({});
    expect(config.routes).toEqual([]);
    expect(config.via).toBe('groundwork');
    const withRoute = edge({ groups: { api: group }, routes: [{ group: 'api', access: 'public' }] });
    const route = withRoute.routes[0]!;
    expect(route.timeouts).toEqual({ tryMs: 15_000, totalMs: 30_000, idleMs: 60_000 });
    expect(route.retries).toEqual({ maxTries: 3, statuses: [502, 503, 504] });
    expect(withRoute.groups.api!.balancer.algorithm).toBe('weighted-round-robin');
  });

  it('accepts the whole section as JSON text (one environment variable) and a balancer by name', () => {
    const text = JSON.stringify({
      groups: { api: { ...group, balancer: 'least-connections' } },
      routes: [{ prefix: '/', group: 'api', access: 'public' }],
    });
    const config = edge(text);
    expect(config.groups.api!.balancer.algorithm).toBe('least-connections');
    expect(config.routes[0]!.prefix).toBe('/');
    expect(() => edge('{not json')).toThrow(GroundworkError);
  });

  it.each([
    ['a route without access', { groups: { api: group }, routes: [{ group: 'api' }] }, /access/],
    [
      'an unknown group',
      { groups: { api: group }, routes: [{ group: 'nope', access: 'public' }] },
      /no group "nope"/,
    ],
    [
      'bypassGateway on a non-public route',
      { groups: { api: group }, routes: [{ group: 'api', access: 'admin', bypassGateway: true }] },
      /bypassGateway needs access "public"/,
    ],
    [
      'both prefix and path',
      { groups: { api: group }, routes: [{ group: 'api', access: 'public', prefix: '/a', path: '/b' }] },
      /either `prefix` or `path`/,
    ],
    [
      'a group with neither targets nor dns',
      { groups: { api: { preserveHost: true } } },
      /either `targets` or `dns`/,
    ],
    [
      'a target that is not http(s)',
      { groups: { api: { targets: [{ url: 'ftp://x' }] } } },
      /edge\.groups\.api/,
    ],
    [
      'a fault delay longer than the total timeout',
      {
        groups: { api: group },
        routes: [
          { group: 'api', access: 'public', timeouts: { totalMs: 100 }, fault: { delay: { fixedMs: 200 } } },
        ],
      },
      /shorter than timeouts\.totalMs/,
    ],
  ])('refuses %s', (_name, values, message) => {
    let caught: unknown;
    try {
      edge(values);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GroundworkError);
    expect((caught as GroundworkError).code).toBe('CONFIG_ERR_INVALID');
    expect((caught as GroundworkError).detail).toMatch(message);
  });
});

describe('route table', () => {
  const table = new RouteTable(
    edge({
      groups: { api: group },
      routes: [
        { hosts: ['*.example.test'], prefix: '/x', group: 'api', access: 'public', name: 'wild' },
        { path: '/users/:id/files/*', group: 'api', access: 'public', name: 'files' },
        { prefix: '/svc/', stripPrefix: true, methods: ['GET'], group: 'api', access: 'public', name: 'svc' },
        {
          prefix: '/',
          headers: { 'x-debug': { present: false } },
          group: 'api',
          access: 'public',
          name: 'rest',
        },
      ],
    }).routes,
  );
  const match = (method: string, path: string, host?: string, headers: Record<string, string> = {}) =>
    table.match({ method, path, host, headers });

  it('matches host, pattern, prefix, method and header presence in order', () => {
    expect(match('GET', '/x/1', 'a.example.test')?.route.name).toBe('wild');
    expect(match('GET', '/x/1', 'example.test')?.route.name).toBe('rest');
    const files = match('GET', '/users/7/files/a/b.txt');
    expect(files?.route.name).toBe('files');
    expect(files?.params).toEqual({ id: '7', '*': 'a/b.txt' });
    expect(match('GET', '/svc')?.route.name).toBe('svc');
    expect(match('POST', '/svc/a')?.route.name).toBe('rest');
    expect(match('GET', '/anything', undefined, { 'x-debug': '1' })).toBeUndefined();
  });

  it('strips a prefix to the path below it', () => {
    const svc = table.routes.find((r) => r.name === 'svc')!;
    expect(upstreamPath(svc, '/svc/a/b')).toBe('/a/b');
    expect(upstreamPath(svc, '/svc')).toBe('/');
    expect(table.routes.find((r) => r.name === 'rest')!.fastifyUrls).toEqual(['/', '/*']);
    expect(svc.fastifyUrls).toEqual(['/svc', '/svc/*']);
  });

  it('finds dot segments, also percent-encoded', () => {
    for (const path of ['/a/../b', '/a/./b', '/a/%2E%2e/b', '/a/.%2e', '/..', '/a\\..\\b']) {
      expect(hasDotSegment(path), path).toBe(true);
    }
    for (const path of ['/a/b', '/a/.well-known/x', '/a/..b', '/v1.2/x', '/%2e%2e%2f']) {
      expect(hasDotSegment(path), path).toBe(false);
    }
  });

  it('reads the request host without port, case or trailing dot', () => {
    expect(requestHost({ host: 'API.Example.test.:8443' })).toBe('api.example.test');
    expect(requestHost({ host: '[::1]:8080' })).toBe('[::1]');
    expect(requestHost({ ':authority': 'h2.example.test' })).toBe('h2.example.test');
    expect(requestHost({})).toBeUndefined();
  });
});

describe('forwarding headers', () => {
  const info = {
    peer: '198.51.100.7',
    peerTrusted: false,
    proto: 'https' as const,
    host: 'shop.example.test',
    via: '1.1 groundwork',
    upstreamHost: 'shop.example.test',
  };
  const asMap = (flat: string[]) => {
    const out: Record<string, string[]> = {};
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!.toLowerCase();
      out[name] ??= [];
      out[name].push(flat[i + 1]!);
    }
    return out;
  };

  it('replaces the forwarding headers an untrusted client sent', () => {
    const headers = asMap(
      upstreamRequestHeaders(
        [
          'X-Forwarded-For',
          '1.2.3.4',
          'Forwarded',
          'for=1.2.3.4',
          'X-Forwarded-Proto',
          'http',
          'X-Forwarded-Host',
          'evil.test',
          'Host',
          'shop.example.test',
        ],
        info,
      ),
    );
    expect(headers['x-forwarded-for']).toEqual(['198.51.100.7']);
    expect(headers.forwarded).toEqual(['for=198.51.100.7;host=shop.example.test;proto=https']);
    expect(headers['x-forwarded-proto']).toEqual(['https']);
    expect(headers['x-forwarded-host']).toEqual(['shop.example.test']);
    expect(headers.host).toEqual(['shop.example.test']);
  });

  it('quotes IPv6 nodes and non-token hosts (RFC 7239 §6)', () => {
    expect(forwardedElement('2001:db8::1', 'a.test:8080', 'http')).toBe(
      'for="[2001:db8::1]";host="a.test:8080";proto=http',
    );
    expect(forwardedElement('', undefined, 'https')).toBe('for=unknown;proto=https');
  });

  it('keeps TE: trailers and drops other hop-by-hop fields and those named in Connection', () => {
    const headers = asMap(
      upstreamRequestHeaders(
        ['TE', 'trailers', 'Connection', 'X-A', 'X-A', '1', 'X-B', '2', 'Upgrade', 'h2c'],
        info,
      ),
    );
    expect(headers.te).toEqual(['trailers']);
    expect(headers['x-a']).toBeUndefined();
    expect(headers.upgrade).toBeUndefined();
    expect(headers['x-b']).toEqual(['2']);
    const response = downstreamResponseHeaders(
      [
        'Connection',
        'close, X-Private',
        'X-Private',
        'p',
        'Transfer-Encoding',
        'chunked',
        'X-Public',
        'q',
      ].map((s) => Buffer.from(s)),
      '1.1 groundwork',
    );
    expect(response).toEqual({ 'x-public': 'q', via: '1.1 groundwork' });
  });

  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('a=1; gw_sticky=abc; b=2', 'gw_sticky')).toBe('abc');
    expect(cookieValue(['a=1', 'gw_sticky="q"'], 'gw_sticky')).toBe('q');
    expect(cookieValue('gw_stickyx=1', 'gw_sticky')).toBeUndefined();
  });
});

describe('fault injection', () => {
  it('draws delay, jitter and abort independently', () => {
    const draws = (values: number[]) => {
      let i = 0;
      return () => values[i++]!;
    };
    const fault = { delay: { fixedMs: 100, jitterMs: 50, percent: 10 }, abort: { status: 503, percent: 20 } };
    // delay drawn (0.05 < 10%), jitter 0.5 → +25 ms, abort not drawn (0.9)
    expect(decideFault(fault, draws([0.05, 0.5, 0.9]))).toEqual({ delayMs: 125, abortStatus: undefined });
    // no delay (0.5), abort drawn (0.1 < 20%)
    expect(decideFault(fault, draws([0.5, 0.1]))).toEqual({ delayMs: 0, abortStatus: 503 });
    expect(decideFault(undefined, Math.random)).toEqual({ delayMs: 0, abortStatus: undefined });
  });
});
