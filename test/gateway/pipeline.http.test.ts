import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';

let gw: TestPlatform;
/** Resolvers of the /test/slow handlers now waiting. */
let waiting: Array<() => void> = [];
/** Lets every waiting /test/slow handler finish. */
function releaseAll(): void {
  const all = waiting;
  waiting = [];
  for (const release of all) release();
}
const slowWaiting = (n: number) => (): boolean => waiting.length >= n;

beforeAll(async () => {
  gw = await startTestPlatform(
    {
      gateway: {
        trustedProxies: ['10.0.0.0/8'], // loopback is NOT trusted here: test clients can't spoof
        cors: {
          enabled: true,
          origins: ['https://app.example.com', 'https://*.example.org'],
          credentials: true,
        },
        rateLimit: { enabled: false },
        routes: [
          {
            path: '/test/limited',
            rateLimit: {
              enabled: true,
              key: ['ip'],
              policies: [{ name: 'burst', algorithm: 'fixed-window', limit: 3, windowMs: 60_000 }],
            },
          },
          { path: '/test/slow', concurrency: { maxInFlight: 2, retryAfterS: 3 } },
          { path: '/test/private*', ipRules: { allow: ['10.9.0.0/16'] } },
          { path: '/test/blocked', ipRules: { deny: ['127.0.0.0/8', '::1'] } },
        ],
      },
    },
    (platform) => {
      const access = { config: { access: 'public' as const } };
      platform.app.get('/test/limited', access, async () => ({ ok: true }));
      platform.app.get('/test/private', access, async () => ({ ok: true }));
      platform.app.get('/test/blocked', access, async () => ({ ok: true }));
      platform.app.get('/test/whoami', access, async (request) => ({ ip: request.clientIp }));
      platform.app.get('/test/slow', access, async () => {
        await new Promise<void>((resolve) => waiting.push(resolve));
        return { ok: true };
      });
    },
  );
});
afterAll(() => gw.close());

describe('gateway: CORS', () => {
  it('answers an allowed preflight with 204 and the Fetch headers, credentials never with *', async () => {
    const response = await fetch(`${gw.url}/test/whoami`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, idempotency-key',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('idempotency-key');
    expect(response.headers.get('access-control-max-age')).toBe('600');
    expect(response.headers.get('vary')?.toLowerCase()).toContain('origin');
  });

  it('gives a disallowed origin no CORS headers, on preflight and on the actual request', async () => {
    const preflight = await fetch(`${gw.url}/test/whoami`, {
      method: 'OPTIONS',
      headers: { origin: 'https://example.org.evil.com', 'access-control-request-method': 'GET' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const actual = await fetch(`${gw.url}/test/whoami`, { headers: { origin: 'https://evil.com' } });
    expect(actual.status).toBe(200);
    expect([...actual.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect(actual.headers.get('vary')?.toLowerCase()).toContain('origin');
  });

  it('echoes a wildcard-subdomain origin and exposes the RateLimit and request-id headers', async () => {
    const response = await fetch(`${gw.url}/test/whoami`, { headers: { origin: 'https://a.b.example.org' } });
    expect(response.headers.get('access-control-allow-origin')).toBe('https://a.b.example.org');
    const exposed = response.headers.get('access-control-expose-headers')?.toLowerCase() ?? '';
    for (const h of ['ratelimit', 'ratelimit-policy', 'retry-after', 'x-request-id'])
      expect(exposed).toContain(h);
  });

  it('keeps CORS headers on error responses so the browser can read the problem', async () => {
    const response = await fetch(`${gw.url}/no/such/route`, {
      headers: { origin: 'https://app.example.com' },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });
});

describe('gateway: client IP and IP rules', () => {
  it('ignores X-Forwarded-For and Forwarded from an untrusted peer', async () => {
    const response = await fetch(`${gw.url}/test/whoami`, {
      headers: { 'x-forwarded-for': '10.9.1.1, 203.0.113.7', forwarded: 'for=198.51.100.1' },
    });
    expect(await response.json()).toEqual({ ip: '127.0.0.1' });
  });

  it('a spoofed allowed address does not pass an allow list; the socket address decides', async () => {
    const response = await fetch(`${gw.url}/test/private`, { headers: { 'x-forwarded-for': '10.9.1.1' } });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe('GATEWAY_ERR_IP_DENIED');
  });

  it('a deny list refuses with 403 problem+json', async () => {
    const response = await fetch(`${gw.url}/test/blocked`);
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toMatch(/problem\+json/);
  });
});

describe('gateway: rate limit and load shedding', () => {
  it('limits per policy with 429, Retry-After and the draft RateLimit fields', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await fetch(`${gw.url}/test/limited`);
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get('ratelimit-policy')).toBe('"burst";q=3;w=60');
        expect(last.headers.get('ratelimit')).toMatch(/^"burst";r=2;t=\d+$/);
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(last?.headers.get('ratelimit')).toMatch(/^"burst";r=0;t=\d+$/);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await last!.json()) as { code: string }).code).toBe('GATEWAY_ERR_RATE_LIMITED');
    // Routes without the override are not limited and carry no RateLimit fields.
    expect((await fetch(`${gw.url}/test/whoami`)).headers.get('ratelimit')).toBeNull();
  });

  it('sheds load past maxInFlight with 503 + Retry-After, and recovers', async () => {
    const first = [fetch(`${gw.url}/test/slow`), fetch(`${gw.url}/test/slow`)];
    // Both slots are taken once both handlers are waiting.
    await waitFor(slowWaiting(2), { timeoutMs: 5_000, intervalMs: 5, what: 'two slow requests to start' });
    let third: Response | undefined;
    await waitFor(
      async () => {
        third = await fetch(`${gw.url}/test/slow`);
        return third.status === 503;
      },
      { timeoutMs: 5_000, intervalMs: 10, what: 'a third request to be shed' },
    );
    expect(third?.headers.get('retry-after')).toBe('3');
    expect(((await third!.json()) as { code: string }).code).toBe('GATEWAY_ERR_OVERLOADED');
    releaseAll();
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
    const after = fetch(`${gw.url}/test/slow`);
    await waitFor(slowWaiting(1), { timeoutMs: 5_000, intervalMs: 5, what: 'slot to be free again' });
    releaseAll();
    expect((await after).status).toBe(200);
  });
});

describe('gateway: security headers', () => {
  it('sends nosniff, referrer policy, frame denial and a strict CSP on every response', async () => {
    for (const path of ['/healthz', '/no/such/route']) {
      const response = await fetch(`${gw.url}${path}`);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
  });

  it('counts decisions in gateway_decisions_total', async () => {
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_decisions_total\{policy="ratelimit",outcome="limited"\} [1-9]/);
    expect(metrics).toMatch(/gateway_decisions_total\{policy="ip",outcome="denied"\} [1-9]/);
  });
});
