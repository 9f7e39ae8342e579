import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { rawBody, rawExchange } from '../support/raw-http.js';

let gw: TestPlatform;
let port: number;
let echoCalls = 0;

const PROBLEM_KEYS = ['code', 'detail', 'requestId', 'status', 'title', 'type'];

beforeAll(async () => {
  gw = await startTestPlatform(
    {
      server: {
        limits: {
          bodyBytes: 1024,
          headerBytes: 2048,
          headersTimeoutMs: 400,
          connectionsCheckIntervalMs: 100,
        },
      },
    },
    (platform) => {
      platform.app.post('/test/echo', { config: { access: 'public' } }, async (request) => {
        echoCalls++;
        return { received: request.body };
      });
      platform.app.get('/test/boom', { config: { access: 'public' } }, async () => {
        throw new Error('SELECT * FROM secret_table failed in /srv/app/internal.ts');
      });
    },
  );
  port = gw.platform.http.port;
});

afterAll(() => gw.close());

async function problem(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await response.json()) as Record<string, unknown>;
}

describe('HTTP server: problem+json errors', () => {
  it('unknown route → 404 problem with a request id matching the header', async () => {
    const response = await fetch(`${gw.url}/no/such/route`);
    expect(response.status).toBe(404);
    const body = await problem(response);
    expect(Object.keys(body).sort()).toEqual(PROBLEM_KEYS);
    expect(body).toMatchObject({ status: 404, code: 'HTTP_ERR_NOT_FOUND', title: 'Not Found' });
    expect(body.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('known path, wrong method → 405 with Allow', async () => {
    const response = await fetch(`${gw.url}/healthz`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(await problem(response)).toMatchObject({ code: 'HTTP_ERR_METHOD_NOT_ALLOWED', status: 405 });
  });

  it('an unexpected failure → 500 with no internal message, path or stack', async () => {
    const response = await fetch(`${gw.url}/test/boom`);
    expect(response.status).toBe(500);
    const text = await response.clone().text();
    expect(await problem(response)).toMatchObject({ code: 'HTTP_ERR_INTERNAL', status: 500 });
    for (const leak of ['secret_table', 'internal.ts', '/srv/', 'at ', 'Error:'])
      expect(text).not.toContain(leak);
    // …but the operator sees it in the log, under the same request id.
    const logged = gw.logs().find((line) => line.msg === 'request failed');
    expect(JSON.stringify(logged)).toContain('secret_table');
  });

  it('malformed JSON → 400 HTTP_ERR_INVALID_BODY; unknown content type → 415', async () => {
    const bad = await fetch(`${gw.url}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
    });
    expect(bad.status).toBe(400);
    expect((await problem(bad)).code).toBe('HTTP_ERR_INVALID_BODY');
    const unsupported = await fetch(`${gw.url}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-unknown' },
      body: 'x',
    });
    expect(unsupported.status).toBe(415);
    expect((await problem(unsupported)).code).toBe('HTTP_ERR_UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('HTTP server: limits and hardening', () => {
  it('body over the limit → 413, under it → 200', async () => {
    const big = await fetch(`${gw.url}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(2000) }),
    });
    expect(big.status).toBe(413);
    expect((await problem(big)).code).toBe('HTTP_ERR_BODY_TOO_LARGE');
    const small = await fetch(`${gw.url}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(100) }),
    });
    expect(small.status).toBe(200);
  });

  it('request head over the limit → 431 problem+json and the connection closed', async () => {
    const result = await rawExchange(
      port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`,
    );
    expect(result.status).toBe(431);
    expect(rawBody(result.text)).toMatchObject({ code: 'HTTP_ERR_HEADERS_TOO_LARGE', status: 431 });
    expect(result.closedByServer).toBe(true);
  });

  it('a client that never finishes its headers (slowloris) is answered 408 and cut off', async () => {
    const result = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', 5_000);
    expect(result.closedByServer).toBe(true);
    expect(result.status).toBe(408);
    expect(rawBody(result.text)).toMatchObject({ code: 'HTTP_ERR_REQUEST_TIMEOUT' });
    // headersTimeoutMs is 400 and checked every 100 ms: well before the 5 s the client would wait.
    expect(result.elapsedMs).toBeLessThan(3_000);
  });

  it.each([
    [
      'Content-Length with Transfer-Encoding (CL.TE smuggling)',
      'POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    ],
    [
      'duplicate Content-Length with different values',
      'POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 12\r\n\r\n{}',
    ],
    [
      'invalid chunk size',
      'POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    ],
    [
      'obfuscated Transfer-Encoding',
      'POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\nContent-Length: 2\r\n\r\n{}',
    ],
    ['no Host header', 'GET /healthz HTTP/1.1\r\n\r\n'],
    ['bare LF line endings in headers', 'GET /healthz HTTP/1.1\nHost: x\nX-A: 1\n\n'],
  ])('%s → 400 and never reaches a route', async (_name, payload) => {
    const before = echoCalls;
    const result = await rawExchange(port, payload);
    expect(result.status).toBe(400);
    expect(rawBody(result.text)).toMatchObject({ code: 'HTTP_ERR_BAD_REQUEST', status: 400 });
    expect(result.closedByServer).toBe(true);
    expect(echoCalls).toBe(before);
    // Only one response: a smuggled second request must not have been answered.
    expect(result.text.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
  });
});

describe('HTTP server: observability', () => {
  it('/metrics counts requests in the latency histogram by route template', async () => {
    const count = async () => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      const match =
        /http_request_duration_seconds_count\{method="GET",route="\/healthz",status_class="2xx"\} (\d+)/.exec(
          text,
        );
      return match ? Number(match[1]) : 0;
    };
    const before = await count();
    await Promise.all(
      Array.from({ length: 7 }, () => fetch(`${gw.url}/healthz`).then((r) => r.arrayBuffer())),
    );
    expect((await count()) - before).toBe(7);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toContain(
      'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz",status_class="2xx"}',
    );
  });

  it('keeps a safe incoming X-Request-Id, replaces an unsafe one', async () => {
    const kept = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers.get('x-request-id')).toBe('abc-123');
    const replaced = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'a b<script>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('accepts a W3C traceparent: its trace id is on the request log line', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await fetch(`${gw.url}/healthz`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'x-request-id': 'trace-test-1' },
    });
    expect(response.status).toBe(200);
    const line = gw.logs().find((l) => l.requestId === 'trace-test-1' && l.msg === 'request');
    expect(line).toMatchObject({ traceId, status: 200, route: '/healthz', method: 'GET' });
  });

  it('/healthz and /readyz answer 200 on the embedded database', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { database: 'ok' } });
  });
});
