/**
 * The edge's reverse proxy on real sockets, inside a real platform: routing by host, path, method
 * and header; the headers it adds, keeps and removes; and how upstream failures map to 502/503/504
 * problem+json. Every upstream is a real HTTP server on a loopback port.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import {
  refusedPort,
  request,
  startUpstream,
  stopAllUpstreams,
  type TestUpstream,
} from './proxy-upstreams.js';

let gw: TestPlatform;
let a: TestUpstream;
let b: TestUpstream;
let echo: TestUpstream;
let hang: TestUpstream;
let sick: TestUpstream;
let dead: number;

beforeAll(async () => {
  a = await startUpstream('a');
  b = await startUpstream('b');
  echo = await startUpstream('echo', (req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      connection: 'x-hop, keep-alive',
      'x-hop': 'named in Connection',
      'keep-alive': 'timeout=5',
      'proxy-authenticate': 'Basic',
      'set-cookie': ['one=1', 'two=2'],
    });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, raw: req.rawHeaders }));
  });
  hang = await startUpstream('hang', () => undefined);
  sick = await startUpstream('sick', (req, res) => {
    res.writeHead(req.url === '/healthz' ? 500 : 200).end('sick');
  });
  dead = await refusedPort();
  const group = (url: string) => ({ targets: [{ url }] });
  gw = await startTestPlatform({
    edge: {
      groups: {
        a: group(a.url),
        b: group(b.url),
        echo: group(echo.url),
        hang: {
          ...group(hang.url),
          outlierDetection: { enabled: false },
          circuitBreaker: { enabled: false },
        },
        dead: { ...group(`http://127.0.0.1:${dead}`), outlierDetection: { enabled: false } },
        sick: {
          ...group(sick.url),
          healthCheck: { path: '/healthz', intervalMs: 20, unhealthyThreshold: 1, healthyThreshold: 1 },
        },
      },
      routes: [
        { hosts: ['api.example.test'], prefix: '/', group: 'b', access: 'public' },
        { hosts: ['*.wild.test'], prefix: '/host', group: 'b', access: 'public' },
        { prefix: '/svc', stripPrefix: true, group: 'echo', access: 'public' },
        { path: '/users/:id/*', group: 'echo', access: 'public' },
        { prefix: '/m', methods: ['POST'], group: 'b', access: 'public' },
        { prefix: '/m', methods: ['GET', 'HEAD'], group: 'a', access: 'public' },
        { prefix: '/h', headers: { 'x-canary': '1' }, group: 'b', access: 'public' },
        { prefix: '/h', headers: { 'x-beta': { regex: '^yes' } }, group: 'b', access: 'public' },
        { prefix: '/h', group: 'a', access: 'public' },
        { prefix: '/echo', group: 'echo', access: 'public' },
        { prefix: '/dead', group: 'dead', access: 'public', retries: { maxTries: 2 } },
        { prefix: '/hang', group: 'hang', access: 'public', timeouts: { tryMs: 150, totalMs: 2_000 } },
        { prefix: '/sick', group: 'sick', access: 'public' },
        { prefix: '/host', group: 'a', access: 'public' },
      ],
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await stopAllUpstreams();
});

const via = (path: string, options?: Parameters<typeof request>[1]) => request(`${gw.url}${path}`, options);

describe('routing', () => {
  it('routes by host: exact names and *.wildcards, port and case ignored', async () => {
    expect(
      (await via('/anything', { headers: { host: 'API.example.test:8443' } })).headers['x-upstream'],
    ).toBe('b');
    expect((await via('/host/x', { headers: { host: 'deep.sub.wild.test' } })).headers['x-upstream']).toBe(
      'b',
    );
    // "*.wild.test" does not match the bare domain: the next route (/host → a) serves it.
    expect((await via('/host/x', { headers: { host: 'wild.test' } })).headers['x-upstream']).toBe('a');
  });

  it('routes by path prefix on segment boundaries, and strips the prefix when asked', async () => {
    const one = JSON.parse((await via('/svc/items?q=1')).body);
    expect(one.url).toBe('/items?q=1');
    expect(JSON.parse((await via('/svc')).body).url).toBe('/');
    // /svcx is not under /svc: no route matches it.
    expect((await via('/svcx')).status).toBe(404);
  });

  it('routes by path pattern with parameters and a rest wildcard', async () => {
    expect(JSON.parse((await via('/users/42/posts/7')).body).url).toBe('/users/42/posts/7');
    expect((await via('/users/42')).status).toBe(404);
  });

  it('routes by method', async () => {
    expect((await via('/m/x', { method: 'POST' })).headers['x-upstream']).toBe('b');
    expect((await via('/m/x')).headers['x-upstream']).toBe('a');
    expect((await via('/m/x', { method: 'DELETE' })).status).toBe(404);
  });

  it('routes by header: exact value, regex, and the fallback route', async () => {
    expect((await via('/h', { headers: { 'x-canary': '1' } })).headers['x-upstream']).toBe('b');
    expect((await via('/h', { headers: { 'x-canary': '2' } })).headers['x-upstream']).toBe('a');
    expect((await via('/h', { headers: { 'x-beta': 'yes please' } })).headers['x-upstream']).toBe('b');
    expect((await via('/h')).headers['x-upstream']).toBe('a');
  });

  it('refuses paths with dot segments instead of forwarding them', async () => {
    for (const path of ['/svc/../admin', '/svc/%2e%2e/admin', '/svc/./x']) {
      const response = await rawRequest(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(response, path).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect(echo.received.some((r) => r.url.includes('admin'))).toBe(false);
  });

  it('serves requests that ask for an upgrade nobody takes as ordinary requests', async () => {
    const health = await rawRequest(
      'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    expect(health).toMatch(/^HTTP\/1\.1 200 /);
    expect(health).toContain('{"status":"ok"}');
  });
});

describe('headers', () => {
  it('adds X-Forwarded-*, Forwarded and Via, and strips hop-by-hop fields both ways', async () => {
    const response = await via('/echo/x', {
      headers: {
        host: 'shop.example.test:9000',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': 'must not pass',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic abc',
        te: 'gzip',
        'x-kept': 'yes',
      },
    });
    expect(response.status).toBe(200);
    const seen = JSON.parse(response.body) as { headers: Record<string, string> };
    expect(seen.headers.host).toBe('shop.example.test:9000');
    expect(seen.headers['x-kept']).toBe('yes');
    for (const name of ['x-secret-hop', 'keep-alive', 'proxy-authorization', 'te']) {
      expect(seen.headers[name], name).toBeUndefined();
    }
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('shop.example.test:9000');
    expect(seen.headers.forwarded).toBe('for=127.0.0.1;host="shop.example.test:9000";proto=http');
    expect(seen.headers.via).toBe('1.1 groundwork');
    // Response: hop-by-hop gone (also the field named in Connection), repeated Set-Cookie kept.
    expect(response.headers['x-hop']).toBeUndefined();
    expect(response.headers['proxy-authenticate']).toBeUndefined();
    expect(response.headers['set-cookie']).toEqual(['one=1', 'two=2']);
    expect(response.headers.via).toBe('1.1 groundwork');
    // The gateway's own headers are on the proxied response too.
    expect(response.headers['x-request-id']).toBeTruthy();
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('appends to the forwarding chain of a trusted proxy (loopback is trusted by default)', async () => {
    const response = await via('/echo/x', {
      headers: {
        'x-forwarded-for': '203.0.113.9, 10.0.0.1',
        forwarded: 'for=203.0.113.9;proto=https',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'public.example.test',
        via: '1.1 cdn',
      },
    });
    const seen = JSON.parse(response.body) as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 10.0.0.1, 127.0.0.1');
    expect(seen.headers.forwarded).toMatch(/^for=203\.0\.113\.9;proto=https, for=127\.0\.0\.1;/);
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe('public.example.test');
    expect(seen.headers.via).toBe('1.1 cdn, 1.1 groundwork');
  });

  it('keeps repeated request fields as separate lines', async () => {
    const response = await rawRequest(
      'GET /echo/raw HTTP/1.1\r\nHost: x\r\nX-Multi: one\r\nX-Multi: two\r\nConnection: close\r\n\r\n',
    );
    const body = JSON.parse(
      response.slice(response.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, ''),
    );
    const raw = body.raw as string[];
    expect(raw.filter((_, i) => i % 2 === 0 && raw[i]!.toLowerCase() === 'x-multi').length).toBe(2);
  });
});

describe('upstream failures', () => {
  it('connection refused → 502 EDGE_ERR_UPSTREAM_CONNECT', async () => {
    const response = await via('/dead');
    expect(response.status).toBe(502);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(response.body);
    expect(problem.code).toBe('EDGE_ERR_UPSTREAM_CONNECT');
    expect(response.body).not.toContain(String(dead)); // no target address in the answer
  });

  it('no response head within the try timeout → 504 EDGE_ERR_UPSTREAM_TIMEOUT', async () => {
    const started = Date.now();
    const response = await via('/hang');
    expect(response.status).toBe(504);
    expect(JSON.parse(response.body).code).toBe('EDGE_ERR_UPSTREAM_TIMEOUT');
    // One target: the retry finds no other, so the answer comes after one try timeout, not the total.
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('no healthy target → 503 EDGE_ERR_NO_HEALTHY_UPSTREAM with Retry-After', async () => {
    const edge = gw.platform.lifecycle.components.find((c) => c.name === 'edge') as unknown as {
      status(): { groups: Record<string, { healthy: boolean }[]> };
    };
    await waitFor(() => edge.status().groups.sick!.every((t) => !t.healthy), {
      timeoutMs: 5_000,
      what: 'the health check to mark the sick target down',
    });
    const response = await via('/sick');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(JSON.parse(response.body).code).toBe('EDGE_ERR_NO_HEALTHY_UPSTREAM');
    expect(sick.received.filter((r) => r.url !== '/healthz')).toEqual([]);
  });

  it('an upstream that closes the connection without answering → 502, and the edge keeps serving', async () => {
    echo.handle((req) => req.socket.destroy());
    try {
      const response = await via('/echo/reset', { method: 'POST', body: 'x' });
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body).code).toBe('EDGE_ERR_UPSTREAM_RESET');
    } finally {
      echo.handle((req, res) =>
        res.writeHead(200).end(JSON.stringify({ url: req.url, headers: req.headers })),
      );
    }
    expect((await via('/echo/after')).status).toBe(200);
  });
});

describe('robustness', () => {
  it('arbitrary paths and headers never get a 500 from the proxy', async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}$/);
    const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
    const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { maxLength: 5 }),
        fc.dictionary(headerName, headerValue, { maxKeys: 6 }),
        fc.constantFrom('/echo', '/svc', '/users/1', '/h', '/m', '/nothing'),
        async (segments, headers, base) => {
          const path = `${base}/${segments.join('/')}`;
          const lines = Object.entries(headers)
            .filter(
              ([name]) =>
                !['host', 'content-length', 'transfer-encoding', 'connection', 'expect'].includes(name),
            )
            .map(([name, value]) => `${name}: ${value.trim()}\r\n`)
            .join('');
          const response = await rawRequest(
            `GET ${path} HTTP/1.1\r\nHost: x\r\n${lines}Connection: close\r\n\r\n`,
          );
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
          expect(status, `${path} ${JSON.stringify(headers)}`).toBeGreaterThanOrEqual(200);
          expect(status, `${path} ${JSON.stringify(headers)}`).not.toBe(500);
        },
      ),
      { numRuns: 150 },
    );
  });
});

/** Sends bytes as they are on a new connection; resolves with everything the server sent back. */
function rawRequest(text: string): Promise<string> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      out += chunk;
    });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}
