/**
 * The gateway's policies on proxied routes: rate limits, admin and user access (also when routes
 * sharing a path differ in access), CORS preflights answered at the edge, a required
 * Idempotency-Key, and routes that bypass the gateway on purpose.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { request, startUpstream, stopAllUpstreams, type TestUpstream } from './proxy-upstreams.js';

let gw: TestPlatform;
let svc: TestUpstream;
let adminKey: string;

beforeAll(async () => {
  svc = await startUpstream('svc');
  gw = await startTestPlatform({
    log: { level: 'warn' },
    gateway: {
      cors: { enabled: true, origins: ['https://app.example.test'] },
      routes: [
        {
          path: '/limited/*',
          rateLimit: {
            enabled: true,
            policies: [{ name: 'tiny', algorithm: 'fixed-window', limit: 3, windowMs: 60_000 }],
          },
        },
        { path: '/orders/*', idempotency: { required: true } },
      ],
    },
    edge: {
      groups: { svc: { targets: [{ url: svc.url }] } },
      routes: [
        { prefix: '/limited', group: 'svc', access: 'public' },
        { prefix: '/ops', group: 'svc', access: 'admin' },
        { prefix: '/me', group: 'svc', access: 'user' },
        { prefix: '/mixed', hosts: ['internal.example.test'], group: 'svc', access: 'admin' },
        { prefix: '/mixed', group: 'svc', access: 'public' },
        { prefix: '/orders', group: 'svc', access: 'public' },
        { prefix: '/fast/first', group: 'svc', access: 'public' },
        { prefix: '/fast', group: 'svc', access: 'public', bypassGateway: true },
        { prefix: '/open', group: 'svc', access: 'public' },
      ],
    },
  });
  ({ key: adminKey } = await new ApiKeys(gw.platform.database).create({ name: 'edge-test', role: 'admin' }));
});

afterAll(async () => {
  await gw?.close();
  await stopAllUpstreams();
});

const via = (path: string, options?: Parameters<typeof request>[1]) => request(`${gw.url}${path}`, options);
const reached = (prefix: string) => svc.received.filter((r) => r.url.startsWith(prefix)).length;

describe('gateway policies on proxied routes', () => {
  it('rate limits a proxied route; refused requests never reach the upstream', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await via(`/limited/${i}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(reached('/limited')).toBe(3);
    const refused = await via('/limited/again');
    expect(JSON.parse(refused.body).code).toBe('GATEWAY_ERR_RATE_LIMITED');
    expect(refused.headers['retry-after']).toBeDefined();
  });

  it('admin access: anonymous and non-admin callers are refused before proxying', async () => {
    const anonymous = await via('/ops/restart', { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body).code).toBe('AUTH_ERR_UNAUTHENTICATED');
    const badKey = await via('/ops/restart', {
      method: 'POST',
      headers: { authorization: 'Bearer gwk_nope' },
    });
    expect(badKey.status).toBe(401);
    expect(reached('/ops')).toBe(0);
    const admin = await via('/ops/restart', {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(admin.status).toBe(200);
    expect(admin.headers['x-upstream']).toBe('svc');
    expect(reached('/ops')).toBe(1);
  });

  it('user access: anonymous callers get 401', async () => {
    const response = await via('/me');
    expect(response.status).toBe(401);
    expect(reached('/me')).toBe(0);
  });

  it('routes sharing a path but not their access are checked per route', async () => {
    const internal = await via('/mixed/x', { headers: { host: 'internal.example.test' } });
    expect(internal.status).toBe(401);
    const asAdmin = await via('/mixed/x', {
      headers: { host: 'internal.example.test', authorization: `Bearer ${adminKey}` },
    });
    expect(asAdmin.status).toBe(200);
    const open = await via('/mixed/x', { headers: { host: 'www.example.test' } });
    expect(open.status).toBe(200);
    expect(reached('/mixed')).toBe(2);
  });

  it('CORS: preflights are answered by the gateway, actual responses carry its headers', async () => {
    const preflight = await via('/open/items', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.test', 'access-control-request-method': 'PUT' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect(reached('/open')).toBe(0);
    const actual = await via('/open/items', { headers: { origin: 'https://app.example.test' } });
    expect(actual.status).toBe(200);
    expect(actual.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect(actual.headers.vary).toMatch(/origin/i);
  });

  it("merges the gateway's headers into the upstream's: the gateway's win, Vary is joined, the upstream's security headers stay", async () => {
    svc.handle((_req, res) => {
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          vary: 'Accept-Encoding',
          'content-security-policy': "default-src 'self'",
          'x-frame-options': 'SAMEORIGIN',
          'x-request-id': 'from-the-upstream',
        })
        .end('<p>hi</p>');
    });
    try {
      const response = await via('/open/page', { headers: { origin: 'https://app.example.test' } });
      expect(response.status).toBe(200);
      expect(response.body).toBe('<p>hi</p>');
      expect(response.headers.vary).toBe('Accept-Encoding, Origin');
      expect(response.headers['access-control-allow-origin']).toBe('https://app.example.test');
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      // The upstream's own security headers are kept; the ones it did not send are added.
      expect(response.headers['content-security-policy']).toBe("default-src 'self'");
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers.via).toBe('1.1 groundwork');
    } finally {
      svc.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok svc');
      });
    }
  });

  it('a required Idempotency-Key is enforced before proxying', async () => {
    const missing = await via('/orders/new', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body).code).toBe('GATEWAY_ERR_IDEMPOTENCY_KEY_MISSING');
    expect(reached('/orders')).toBe(0);
    const keyed = await via('/orders/new', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': '"order-1"' },
      body: '{"n":1}',
    });
    expect(keyed.status).toBe(200);
    expect(reached('/orders')).toBe(1);
    // The key is released after a streamed answer (nothing to replay), so a retry runs again.
    const again = await via('/orders/new', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': '"order-1"' },
      body: '{"n":1}',
    });
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
  });
});

describe('bypassGateway', () => {
  it('serves the route before Fastify (no request id, no gateway headers), in route order', async () => {
    const fast = await via('/fast/x');
    expect(fast.status).toBe(200);
    expect(fast.headers['x-upstream']).toBe('svc');
    expect(fast.headers['x-request-id']).toBeUndefined();
    expect(fast.headers['x-content-type-options']).toBeUndefined();
    expect(fast.headers.via).toBe('1.1 groundwork');
    // An earlier gateway route that matches wins over the bypass route.
    const first = await via('/fast/first/x');
    expect(first.headers['x-request-id']).toBeDefined();
    // Other requests still reach Fastify.
    expect((await via('/healthz')).status).toBe(200);
  });
});
