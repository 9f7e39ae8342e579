/**
 * Failover through the edge on real sockets: retries on another target within the retry budget and
 * only for requests that may be repeated; a killed target skipped once health checks mark it down
 * and brought back with slow start; a circuit breaker that stops traffic to a failing target;
 * draining on target removal; sticky sessions; DNS-discovered groups; fault injection; metrics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edge } from '../../src/edge/edge.js';
import { waitFor } from '../harness/engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { DnsTestServer } from './dns-test-server.js';
import {
  refusedPort,
  request,
  startUpstream,
  stopAllUpstreams,
  type TestUpstream,
} from './proxy-upstreams.js';

let gw: TestPlatform;
let edge: Edge;
let dns: DnsTestServer;
const up: Record<string, TestUpstream> = {};
/** Responses of the `slow` upstream, released by the draining test. */
const held: ServerResponse[] = [];

const quiet = { outlierDetection: { enabled: false }, circuitBreaker: { enabled: false } };

beforeAll(async () => {
  for (const name of ['a', 'b', 'c', 'killed', 'peer', 'sticky1', 'sticky2', 'steady'])
    up[name] = await startUpstream(name);
  up.unavailable = await startUpstream('unavailable', (_req, res) => res.writeHead(503).end('busy'));
  up.resetter = await startUpstream('resetter', (req) => req.socket.destroy());
  up.broken = await startUpstream('broken', (req, res) => {
    if (req.url === '/healthz') res.writeHead(200).end('ok');
    else res.writeHead(500).end('boom');
  });
  up.slow = await startUpstream('slow', (_req: IncomingMessage, res: ServerResponse) => void held.push(res));
  const dead = `http://127.0.0.1:${await refusedPort()}`;
  dns = new DnsTestServer();
  const dnsServer = await dns.start();
  dns.zone.set('api.service.test', { a: [{ address: '127.0.0.1', ttl: 60 }] });
  const targets = (...names: string[]) => names.map((n) => ({ url: up[n]!.url }));
  gw = await startTestPlatform({
    log: { level: 'warn' },
    edge: {
      groups: {
        retry: {
          targets: [{ url: dead }, ...targets('a')],
          balancer: { algorithm: 'round-robin' },
          ...quiet,
        },
        budget: {
          targets: [{ url: dead }, ...targets('b')],
          balancer: { algorithm: 'round-robin' },
          retryBudget: { ratio: 0, minRetriesPerSecond: 0.1, windowMs: 10_000 },
          ...quiet,
        },
        status: { targets: targets('unavailable', 'c'), balancer: { algorithm: 'round-robin' }, ...quiet },
        post: { targets: targets('resetter', 'c'), balancer: { algorithm: 'round-robin' }, ...quiet },
        health: {
          targets: targets('killed', 'peer'),
          healthCheck: {
            path: '/healthz',
            intervalMs: 25,
            timeoutMs: 500,
            healthyThreshold: 1,
            unhealthyThreshold: 1,
          },
          slowStart: { windowMs: 3_000, minFraction: 0.1 },
        },
        breaker: {
          targets: targets('broken', 'steady'),
          balancer: { algorithm: 'round-robin' },
          outlierDetection: { enabled: false },
          circuitBreaker: { consecutiveFailures: 2, openMs: 60_000 },
        },
        drain: { targets: targets('slow'), drainTimeoutMs: 10_000 },
        sticky: {
          targets: targets('sticky1', 'sticky2'),
          sticky: { cookie: 'gw_pin', secret: 'a-secret-of-16-chars' },
        },
        dns: { dns: { hostname: 'api.service.test', port: up.a!.port, families: [4], servers: [dnsServer] } },
        faults: { targets: targets('a') },
      },
      routes: [
        { prefix: '/retry', group: 'retry', access: 'public' },
        { prefix: '/budget', group: 'budget', access: 'public' },
        { prefix: '/status', group: 'status', access: 'public' },
        { prefix: '/post', group: 'post', access: 'public' },
        { prefix: '/health', group: 'health', access: 'public' },
        { prefix: '/breaker', group: 'breaker', access: 'public', retries: { maxTries: 1 } },
        { prefix: '/drain', group: 'drain', access: 'public' },
        { prefix: '/sticky', group: 'sticky', access: 'public' },
        { prefix: '/dns', group: 'dns', access: 'public' },
        {
          prefix: '/abort',
          group: 'faults',
          access: 'public',
          fault: { abort: { status: 418, percent: 25 } },
        },
        {
          prefix: '/delay',
          group: 'faults',
          access: 'public',
          fault: { delay: { fixedMs: 80, percent: 100 } },
        },
      ],
    },
  });
  edge = gw.platform.lifecycle.components.find((c) => c.name === 'edge') as unknown as Edge;
});

afterAll(async () => {
  for (const res of held.splice(0)) res.end();
  await gw?.close();
  await dns?.stop();
  await stopAllUpstreams();
});

const via = (path: string, options?: Parameters<typeof request>[1]) => request(`${gw.url}${path}`, options);
const served = (name: string, prefix: string) =>
  up[name]!.received.filter((r) => r.url.startsWith(prefix)).length;
const target = (group: string, name: string) =>
  edge.status().groups[group]!.find((t) => t.address === up[name]!.url)!;

describe('retries', () => {
  it('a GET whose target refuses the connection is retried on another target', async () => {
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => via(`/retry/${i}`)));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(responses.every((r) => r.headers['x-upstream'] === 'a')).toBe(true);
    expect(served('a', '/retry')).toBe(10);
  });

  it('stops retrying when the retry budget is spent', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await via(`/budget/${i}`);
      statuses.push(response.status);
      if (response.status !== 200) expect(JSON.parse(response.body).code).toBe('EDGE_ERR_UPSTREAM_CONNECT');
    }
    // The budget holds one retry (0.1/s over 10 s, no ratio): one refused try was saved, the others not.
    const group = edge.group('budget')!;
    expect(group.budget.counters.retries).toBe(1);
    expect(statuses.filter((s) => s === 502).length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s === 200).length).toBe(served('b', '/budget'));
  });

  it('a GET answered 503 is retried on another target', async () => {
    const responses = await Promise.all(Array.from({ length: 6 }, (_, i) => via(`/status/${i}`)));
    expect(responses.map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(served('unavailable', '/status')).toBeGreaterThan(0);
  });

  it('a POST without Idempotency-Key is not retried after the request was sent; with a key it is', async () => {
    const reached = (i: string) => up.resetter!.received.some((r) => r.url === `/post/${i}`);
    const reachedC = (i: string) => up.c!.received.some((r) => r.url === `/post/${i}`);
    for (let i = 0; i < 4; i++) {
      const response = await via(`/post/plain-${i}`, { method: 'POST' });
      if (reached(`plain-${i}`)) {
        // Sent, then the connection was reset: the upstream may have acted on it, so no second try.
        expect(response.status).toBe(502);
        expect(JSON.parse(response.body).code).toBe('EDGE_ERR_UPSTREAM_RESET');
        expect(reachedC(`plain-${i}`)).toBe(false);
      } else {
        expect(response.status).toBe(200);
      }
    }
    expect(served('resetter', '/post/plain')).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) {
      const response = await via(`/post/keyed-${i}`, {
        method: 'POST',
        headers: { 'idempotency-key': `"key-${i}"` },
      });
      expect(response.status).toBe(200);
      expect(response.headers['x-upstream']).toBe('c');
    }
    expect(served('resetter', '/post/keyed')).toBeGreaterThan(0);
    // A body that was already streamed cannot be replayed: no retry, even with a key.
    for (let i = 0; i < 4; i++) {
      const response = await via(`/post/body-${i}`, {
        method: 'POST',
        headers: { 'idempotency-key': `"body-${i}"`, 'content-type': 'text/plain' },
        body: 'payload',
      });
      expect(response.status).toBe(reached(`body-${i}`) ? 502 : 200);
      if (reached(`body-${i}`)) expect(reachedC(`body-${i}`)).toBe(false);
    }
    expect(served('resetter', '/post/body')).toBeGreaterThan(0);
  });
});

describe('health checks, slow start and the circuit breaker', () => {
  it('a killed target gets no traffic once marked down, and ramps up again after it returns', async () => {
    const before = await Promise.all(Array.from({ length: 20 }, (_, i) => via(`/health/a${i}`)));
    expect(before.every((r) => r.status === 200)).toBe(true);
    expect(served('killed', '/health/a')).toBeGreaterThan(0);

    await up.killed!.stop();
    // Until the health check notices, requests to it fail to connect and are retried: no failures.
    const during = await Promise.all(Array.from({ length: 20 }, (_, i) => via(`/health/b${i}`)));
    expect(during.map((r) => r.status)).toEqual(Array(20).fill(200));
    await waitFor(() => !target('health', 'killed').healthy, {
      timeoutMs: 5_000,
      what: 'killed marked down',
    });
    const afterDown = await Promise.all(Array.from({ length: 20 }, (_, i) => via(`/health/c${i}`)));
    expect(afterDown.every((r) => r.status === 200 && r.headers['x-upstream'] === 'peer')).toBe(true);

    await up.killed!.restart();
    await waitFor(() => target('health', 'killed').available, { timeoutMs: 5_000, what: 'killed back up' });
    // Slow start: right after recovery it gets a small share (its weight starts at 10%).
    const early: string[] = [];
    for (let i = 0; i < 30; i++) early.push(String((await via(`/health/d${i}`)).headers['x-upstream']));
    const earlyShare = early.filter((name) => name === 'killed').length / early.length;
    expect(earlyShare).toBeGreaterThan(0);
    expect(earlyShare).toBeLessThan(0.3);
    await waitFor(() => target('health', 'killed').weightFactor === 1, {
      timeoutMs: 10_000,
      what: 'the end of the slow-start ramp',
    });
    const late: string[] = [];
    for (let i = 0; i < 40; i++) late.push(String((await via(`/health/e${i}`)).headers['x-upstream']));
    expect(late.filter((name) => name === 'killed').length).toBe(20);
  });

  it('an open circuit breaker stops traffic to a failing target', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await via(`/breaker/${i}`)).status);
    // 500 is the application's answer: passed through, never retried; two of them open the breaker.
    expect(statuses.filter((s) => s === 500).length).toBe(2);
    expect(target('breaker', 'broken').circuit).toBe('open');
    const after = await Promise.all(Array.from({ length: 10 }, (_, i) => via(`/breaker/after-${i}`)));
    expect(after.every((r) => r.status === 200 && r.headers['x-upstream'] === 'steady')).toBe(true);
  });
});

describe('draining', () => {
  it('a removed target finishes its in-flight request, gets no new ones, and is closed', async () => {
    const inFlight = via('/drain/long');
    await waitFor(() => held.length === 1, {
      timeoutMs: 5_000,
      what: 'the request to reach the slow target',
    });
    edge.group('drain')!.setTargets([{ url: up.a!.url }]);
    expect(target('drain', 'slow').draining).toBe(true);
    const fresh = await via('/drain/fresh');
    expect(fresh.headers['x-upstream']).toBe('a');
    held.shift()!.end('finished late');
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(response.body).toBe('finished late');
    await waitFor(() => edge.status().groups.drain!.every((t) => t.address !== up.slow!.url), {
      timeoutMs: 5_000,
      what: 'the drained target to be closed',
    });
    expect(up.slow!.received.map((r) => r.url)).toEqual(['/drain/long']);
  });
});

describe('sticky sessions', () => {
  it('pins a client to the target named by its cookie, and re-pins it when that target is gone', async () => {
    const first = await via('/sticky/1');
    const setCookie = first.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toMatch(/^gw_pin=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/);
    const pinned = String(first.headers['x-upstream']);
    const cookie = setCookie.split(';')[0]!;
    for (let i = 0; i < 10; i++) {
      const response = await via(`/sticky/${i}`, { headers: { cookie: `other=1; ${cookie}` } });
      expect(response.headers['x-upstream']).toBe(pinned);
      expect(response.headers['set-cookie']).toBeUndefined();
    }
    await up[pinned]!.stop();
    const moved = await via('/sticky/moved', { headers: { cookie } });
    expect(moved.status).toBe(200);
    expect(moved.headers['x-upstream']).not.toBe(pinned);
    expect(moved.headers['set-cookie']?.[0]).toMatch(/^gw_pin=/);
    expect(moved.headers['set-cookie']?.[0]?.split(';')[0]).not.toBe(cookie);
  });
});

describe('DNS-discovered groups', () => {
  it('proxies to the addresses the name resolves to', async () => {
    const response = await via('/dns/x');
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream']).toBe('a');
    expect(dns.queries.some((q) => q.name === 'api.service.test' && q.type === 'A')).toBe(true);
  });
});

describe('fault injection', () => {
  it('aborts about the configured share of requests with the configured status', async () => {
    const n = 400;
    let aborted = 0;
    for (let i = 0; i < n; i++) {
      const response = await via(`/abort/${i}`);
      if (response.status === 418) {
        aborted++;
        expect(JSON.parse(response.body).code).toBe('EDGE_ERR_FAULT_INJECTED');
      } else {
        expect(response.status).toBe(200);
      }
    }
    // 25% of 400 = 100, standard deviation ≈ 8.7: ±40 is beyond 4.5 sigma.
    expect(aborted).toBeGreaterThan(60);
    expect(aborted).toBeLessThan(140);
    expect(served('a', '/abort')).toBe(n - aborted);
  });

  it('delays requests by the configured time', async () => {
    const started = Date.now();
    const response = await via('/delay/x');
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });
});

describe('metrics', () => {
  it('exports per-target requests, errors, latency, health, ejections, retries and breaker state', async () => {
    const text = (await via('/metrics')).body;
    const target = (name: string) => new URL(up[name]!.url).host;
    expect(text).toContain(
      `edge_upstream_requests_total{group="retry",target="${target('a')}",outcome="2xx"} 10`,
    );
    expect(text).toMatch(
      /edge_upstream_errors_total\{group="retry",target="127\.0\.0\.1:\d+",kind="connect-failure"\} [1-9]/,
    );
    expect(text).toMatch(
      new RegExp(`edge_upstream_retries_total\\{group="retry",target="${target('a')}"\\} [1-9]`),
    );
    expect(text).toContain(`edge_upstream_circuit_state{group="breaker",target="${target('broken')}"} 2`);
    expect(text).toContain(`edge_upstream_healthy{group="health",target="${target('killed')}"} 1`);
    expect(text).toMatch(
      /edge_upstream_request_duration_seconds_count\{group="retry",target="127\.0\.0\.1:\d+"\} \d+/,
    );
    expect(text).toMatch(/edge_upstream_ejections_total\{group="health",target="[^"]+"\} \d+/);
    expect(text).toMatch(/edge_upstream_in_flight\{group="status",target="[^"]+"\} 0/);
  });
});
