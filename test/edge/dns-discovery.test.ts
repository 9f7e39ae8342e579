import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GroundworkError } from '../../src/core/errors.js';
import {
  DnsDiscovery,
  type DnsDiscoveryOptions,
  type DnsTarget,
  dnsTargetId,
} from '../../src/edge/discovery/dns-discovery.js';
import { ManualScheduler } from '../../src/edge/health/scheduler.js';
import { waitFor } from '../harness/engines.js';
import { DnsTestServer } from './dns-test-server.js';

// Every query goes to this server on 127.0.0.1: no external DNS traffic.
const server = new DnsTestServer();
let serverAddress = '';

beforeAll(async () => {
  serverAddress = await server.start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  server.reset();
});

const NAME = 'api.groundwork.test';

function setup(options: Partial<DnsDiscoveryOptions> = {}) {
  const time = new ManualScheduler(1_000_000);
  const changes: { targets: readonly DnsTarget[]; previous: readonly DnsTarget[] }[] = [];
  const errors: GroundworkError[] = [];
  const discovery = new DnsDiscovery({
    hostname: NAME,
    port: 8080,
    servers: [serverAddress],
    minTtlMs: 5_000,
    maxTtlMs: 60_000,
    retryMs: 1_000,
    maxRetryMs: 4_000,
    queryTimeoutMs: 100,
    tries: 1,
    scheduler: time,
    onChange: (targets, previous) => changes.push({ targets, previous }),
    onError: (error) => errors.push(error),
    ...options,
  });
  /** Fires the next scheduled resolution and waits (in real time) until its DNS queries are answered. */
  const nextResolution = async () => {
    const before = discovery.counters;
    const due = time.nextDueMs!;
    await time.advance(due - time.now());
    await waitFor(
      () => {
        const after = discovery.counters;
        return after.resolutions + after.failures > before.resolutions + before.failures;
      },
      { timeoutMs: 5_000, intervalMs: 5, what: 'the background DNS resolution to finish' },
    );
  };
  return { time, changes, errors, discovery, nextResolution };
}

const ids = (targets: readonly DnsTarget[]) => targets.map(dnsTargetId);

describe('DnsDiscovery', () => {
  it('resolves every A and AAAA record into targets, sorted, and reports the change', async () => {
    server.set(NAME, {
      a: [
        { address: '10.0.0.2', ttl: 30 },
        { address: '10.0.0.1', ttl: 30 },
      ],
      aaaa: [{ address: 'fd00::1', ttl: 30 }],
    });
    const { discovery, changes, time } = setup();
    const targets = await discovery.start();
    expect(ids(targets)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080', '[fd00::1]:8080']);
    expect(targets[2]).toEqual({ address: 'fd00::1', family: 6, port: 8080 });
    expect(changes).toEqual([{ targets, previous: [] }]);
    expect(discovery.status).toMatchObject({
      resolvedAtMs: time.now(),
      ttlMs: 30_000,
      expiresAtMs: time.now() + 30_000,
      nextResolveAtMs: time.now() + 24_000, // refreshAt 0.8
      consecutiveFailures: 0,
      stale: false,
    });
    expect(server.queryCount('A')).toBe(1);
    expect(server.queryCount('AAAA')).toBe(1);
    discovery.stop();
  });

  it('bounds the TTL: the smallest record TTL, clamped to [minTtlMs, maxTtlMs]', async () => {
    const cases: [ttls: number[], expectedMs: number][] = [
      [[1, 300], 5_000], // below the minimum
      [[20, 45], 20_000], // the smallest record wins
      [[86_400], 60_000], // above the maximum
      [[0], 5_000], // "do not cache" still waits the minimum
    ];
    for (const [ttls, expectedMs] of cases) {
      server.set(NAME, { a: ttls.map((ttl, i) => ({ address: `10.1.0.${i + 1}`, ttl })) });
      const { discovery, time } = setup({ families: [4] });
      await discovery.start();
      expect(discovery.status.ttlMs, JSON.stringify(ttls)).toBe(expectedMs);
      expect(time.nextDueMs).toBe(time.now() + expectedMs * 0.8);
      discovery.stop();
    }
  });

  it('re-resolves in the background before expiry and reports only real changes', async () => {
    server.set(NAME, { a: [{ address: '10.0.0.1', ttl: 10 }] });
    const { discovery, changes, time, nextResolution } = setup({ families: [4] });
    await discovery.start();
    const firstAt = time.now();
    await nextResolution(); // at 8 s, before the 10 s expiry; same answer (a new TTL is no change)
    server.set(NAME, { a: [{ address: '10.0.0.1', ttl: 20 }] });
    expect(time.now()).toBe(firstAt + 8_000);
    expect(discovery.status.stale).toBe(false);
    expect(changes).toHaveLength(1);
    await nextResolution();
    expect(changes).toHaveLength(1);
    expect(discovery.status.ttlMs).toBe(20_000);
    server.set(NAME, {
      a: [
        { address: '10.0.0.1', ttl: 20 },
        { address: '10.0.0.3', ttl: 20 },
      ],
    });
    await nextResolution();
    expect(changes).toHaveLength(2);
    expect(ids(changes[1]!.targets)).toEqual(['10.0.0.1:8080', '10.0.0.3:8080']);
    expect(ids(changes[1]!.previous)).toEqual(['10.0.0.1:8080']);
    expect(server.queryCount('A')).toBe(4);
    discovery.stop();
  });

  it('keeps the last good set on SERVFAIL, retries with backoff, reports each failure, and recovers', async () => {
    server.set(NAME, { a: [{ address: '10.0.0.1', ttl: 10 }], aaaa: [{ address: 'fd00::9', ttl: 10 }] });
    const { discovery, changes, errors, time, nextResolution } = setup();
    const good = await discovery.start();
    server.mode = 'servfail';
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = time.now();
      await nextResolution();
      delays.push(time.now() - before);
      expect(discovery.targets).toBe(good);
    }
    // First the normal refresh at 0.8 × TTL, then 1 s, 2 s, 4 s (capped at maxRetryMs).
    expect(delays).toEqual([8_000, 1_000, 2_000, 4_000]);
    expect(time.nextDueMs! - time.now()).toBe(4_000);
    expect(errors).toHaveLength(4);
    expect(errors[0]!.code).toBe('EDGE_ERR_DNS_RESOLUTION');
    expect(errors[0]!.status).toBe(503);
    expect(errors[0]!.detail).not.toContain(NAME); // the name stays in the log, out of responses
    expect(((errors[0]!.cause as NodeJS.ErrnoException).cause as NodeJS.ErrnoException).code).toBe(
      'ESERVFAIL',
    );
    expect(discovery.status).toMatchObject({ consecutiveFailures: 4, stale: true });
    expect(discovery.status.lastError).toBe(errors[3]);
    expect(changes).toHaveLength(1);

    server.mode = 'answer';
    await nextResolution();
    expect(discovery.status).toMatchObject({ consecutiveFailures: 0, lastError: undefined, stale: false });
    expect(discovery.targets).toBe(good); // same addresses: no new set, no event
    expect(changes).toHaveLength(1);
    discovery.stop();
  });

  it('keeps the last good set when the server does not answer (timeout), refuses, or says NXDOMAIN', async () => {
    server.set(NAME, { a: [{ address: '10.0.0.7', ttl: 10 }] });
    const { discovery, errors, nextResolution } = setup({ families: [4] });
    const good = await discovery.start();
    const codes: string[] = [];
    for (const mode of ['drop', 'refused', 'nxdomain'] as const) {
      server.mode = mode;
      await nextResolution();
      expect(discovery.targets, mode).toBe(good);
      codes.push(String((errors.at(-1)!.cause as NodeJS.ErrnoException).code));
    }
    expect(codes).toEqual(['ETIMEOUT', 'EREFUSED', 'ENOTFOUND']);
    discovery.stop();
  });

  it('an empty answer counts as a failure; a family without records (NODATA) does not', async () => {
    server.set(NAME, { a: [{ address: '10.0.0.1', ttl: 10 }] }); // no AAAA: NODATA
    const { discovery, errors, nextResolution } = setup();
    const good = await discovery.start();
    expect(ids(good)).toEqual(['10.0.0.1:8080']);
    expect(errors).toEqual([]);
    server.set(NAME, {}); // the name exists, no address at all
    await nextResolution();
    expect(discovery.targets).toBe(good);
    expect((errors[0]!.cause as NodeJS.ErrnoException).code).toBe('ENODATA');
    discovery.stop();
  });

  it('a partial failure (A answers, AAAA fails) keeps the whole last good set', async () => {
    // The test server fails all queries alike, so this one uses a resolver that fails AAAA only.
    let failAaaa = false;
    const partial = new DnsDiscovery({
      hostname: NAME,
      port: 80,
      scheduler: new ManualScheduler(),
      resolver: {
        resolve4: async () => [{ address: failAaaa ? '10.9.9.9' : '10.0.0.1', ttl: 10 }],
        resolve6: async () => {
          if (failAaaa) throw Object.assign(new Error('queryAaaa ESERVFAIL'), { code: 'ESERVFAIL' });
          return [{ address: 'fd00::1', ttl: 10 }];
        },
      },
    });
    expect(await partial.refresh()).toBe(true);
    const good = partial.targets;
    failAaaa = true;
    expect(await partial.refresh()).toBe(false);
    expect(partial.targets).toBe(good);
    expect(ids(good)).toEqual(['10.0.0.1:80', '[fd00::1]:80']);
    partial.stop();
  });

  it('starts empty when the first resolution fails, and fills in once the name resolves', async () => {
    server.mode = 'servfail';
    server.set(NAME, { a: [{ address: '10.0.0.5', ttl: 10 }] });
    const { discovery, changes, errors, nextResolution } = setup({ families: [4] });
    expect(await discovery.start()).toEqual([]);
    expect(errors).toHaveLength(1);
    server.mode = 'answer';
    await nextResolution();
    expect(ids(discovery.targets)).toEqual(['10.0.0.5:8080']);
    expect(changes).toHaveLength(1);
    discovery.stop();
  });

  it('concurrent refreshes share one resolution', async () => {
    server.set(NAME, { a: [{ address: '10.0.0.1', ttl: 10 }] });
    const { discovery } = setup({ families: [4] });
    const [a, b] = [discovery.refresh(), discovery.refresh()];
    expect(a).toBe(b);
    expect(await a).toBe(true);
    expect(server.queryCount('A')).toBe(1);
    const started = discovery.start();
    expect(discovery.start()).toBe(started);
    expect(ids(await started)).toEqual(['10.0.0.1:8080']);
    expect(server.queryCount('A')).toBe(2);
    discovery.stop();
  });

  it('stop() cancels the refresh timer and ignores an answer still on its way', async () => {
    server.set(NAME, { a: [{ address: '10.0.0.1', ttl: 10 }] });
    const { discovery, time, changes } = setup({ families: [4] });
    await discovery.start();
    expect(time.pendingTimers).toBe(1);
    server.mode = 'drop';
    const pending = discovery.refresh();
    discovery.stop();
    expect(time.pendingTimers).toBe(0);
    expect(await pending).toBe(false);
    await time.advance(600_000);
    expect(time.pendingTimers).toBe(0);
    expect(changes).toHaveLength(1);
    expect(discovery.status.nextResolveAtMs).toBeUndefined();
    expect(await discovery.refresh()).toBe(false);
  });

  it('rejects invalid options', () => {
    for (const options of [
      { hostname: '' },
      { port: 0 },
      { port: 70_000 },
      { minTtlMs: 10_000, maxTtlMs: 1_000 },
      { families: [5 as 4] },
      { refreshAt: 0 },
    ]) {
      expect(
        () => new DnsDiscovery({ hostname: NAME, port: 80, ...options }),
        JSON.stringify(options),
      ).toThrow(GroundworkError);
    }
  });
});
