/**
 * Gateway pipeline: what the gateway's policies (IP rules → CORS → rate limit → idempotency, plus
 * the default security headers) add to each request, measured against the same Groundwork process
 * with every policy off, in one run. Results go to the `gateway-pipeline` section of
 * docs/benchmarks.md.
 *
 *   npx tsx bench/gateway-pipeline.ts
 *
 * Every target is `node bench/servers/groundwork-gateway.mjs CONFIG` (the real Platform from dist/,
 * plus a bench-only `GET /bench/get` and `POST /bench/post`), differing only in the `gateway`
 * section of its config file. wrk sends byte-identical requests to every GET target and to every
 * POST target, so the difference is the work the server does. `full-redis` keeps its limits in a
 * private redis-server started for the run.
 *
 * Environment: BENCH_DURATION_S (10), BENCH_CONNECTIONS (64), BENCH_THREADS (1, wrk threads),
 * BENCH_WARMUP_S (2), BENCH_ROUNDS (3), BENCH_IDLE_S (3, the one-connection latency probe).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type RedisServer, redisCommand, startRedis } from '../test/harness/redis.js';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { buildDist } from './lib/build.js';
import { formatInt, formatMs, formatRatio, markdownTable, textTable } from './lib/format.js';
import { formatMachine, gitRevision, machineInfo } from './lib/machine.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { busyShare, cpuDelta, processCpuMs, reapedChildrenCpuMs, systemCpuSample } from './lib/proc-cpu.js';
import { startServerOnFreePort } from './lib/server-process.js';
import { median, positiveIntFromEnv } from './lib/stats.js';
import { runWrk, type WrkOptions, type WrkResult, wrkBinary } from './lib/wrk.js';

const NAME = 'gateway-pipeline';
const GET_PATH = '/bench/get';
const POST_PATH = '/bench/post';
const ORIGIN = 'https://app.example.com';
/** A small JSON body, as an API client would send; echoed back by the route. */
const POST_BODY = JSON.stringify({ order: { sku: 'bench-42', quantity: 3, note: 'gateway pipeline bench' } });
/** An address outside the allow list, claimed via X-Forwarded-For from the trusted loopback peer. */
const OUTSIDE_IP = '203.0.113.9';
const serverScript = path.join(repoRoot, 'bench', 'servers', 'groundwork-gateway.mjs');
const postScript = path.join(repoRoot, 'bench', 'servers', 'post-json.lua');

const settings = {
  durationS: positiveIntFromEnv('BENCH_DURATION_S', 10),
  connections: positiveIntFromEnv('BENCH_CONNECTIONS', 64),
  threads: positiveIntFromEnv('BENCH_THREADS', 1),
  warmupS: positiveIntFromEnv('BENCH_WARMUP_S', 2),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 3),
  idleS: positiveIntFromEnv('BENCH_IDLE_S', 3),
  /** Attempts per target and round while other work on the machine takes CPU (see OTHER_CORES_LIMIT). */
  attempts: positiveIntFromEnv('BENCH_ATTEMPTS', 3),
};
/**
 * Cores' worth of CPU that neither the server, wrk nor Redis used during a measured window, above
 * which the window counts as disturbed by other work on the machine and is measured again.
 */
const OTHER_CORES_LIMIT = 0.15;
const cores = machineInfo().cores;

/** Which policies a target turns on; drives its config, its checks and the report. */
interface Policies {
  securityHeaders: boolean;
  ipRules: boolean;
  cors: boolean;
  rateLimit: 'off' | 'memory' | 'redis';
  /** Honours Idempotency-Key on POST (GET is never idempotency-checked). */
  idempotency: boolean;
}

interface Target {
  name: string;
  method: 'GET' | 'POST';
  /** The target with everything off that this one's added cost is measured against. */
  baseline: string;
  description: string;
  policies: Policies;
}

const OFF: Policies = {
  securityHeaders: false,
  ipRules: false,
  cors: false,
  rateLimit: 'off',
  idempotency: false,
};
const FULL: Policies = {
  securityHeaders: true,
  ipRules: true,
  cors: true,
  rateLimit: 'memory',
  idempotency: true,
};

const targets: readonly Target[] = [
  {
    name: 'none',
    method: 'GET',
    baseline: 'none',
    description:
      'every policy off: security headers, CORS, rate limit and idempotency disabled, no IP rules. The pipeline hooks still run (route policy lookup, client IP), as they do on every Groundwork route.',
    policies: OFF,
  },
  {
    name: 'defaults',
    method: 'GET',
    baseline: 'none',
    description: 'the default gateway config: security headers on, everything else off.',
    policies: { ...OFF, securityHeaders: true },
  },
  {
    name: 'full-memory',
    method: 'GET',
    baseline: 'none',
    description: `IP allow list \`127.0.0.0/8, ::1\`; CORS for \`${ORIGIN}\`; rate limit in memory (sliding-window-counter, 10⁹ per 60 s, keyed by client IP: never refuses during the run); idempotency on (not applied to GET); security headers on.`,
    policies: FULL,
  },
  {
    name: 'full-redis',
    method: 'GET',
    baseline: 'none',
    description:
      'the same with the rate limit in Redis (`rateLimit.storeUrl`: a private redis-server 7 on loopback, one Lua round trip per request).',
    policies: { ...FULL, rateLimit: 'redis' },
  },
  {
    name: 'post-none',
    method: 'POST',
    baseline: 'post-none',
    description: `\`POST ${POST_PATH}\` with a ${Buffer.byteLength(POST_BODY)}-byte JSON body (echoed back), every policy off as in \`none\`.`,
    policies: OFF,
  },
  {
    name: 'post-idempotent',
    method: 'POST',
    baseline: 'post-none',
    description:
      'the same POST with the `full-memory` policies: each request carries a new `Idempotency-Key`, so each claims a key (an SQLite INSERT) and stores its response (an UPDATE) in the embedded database.',
    policies: FULL,
  },
];

/** The `gateway` section of a target's config file. */
function gatewayConfig(policies: Policies, redisUrl: string | undefined): Record<string, unknown> {
  const rateLimit =
    policies.rateLimit === 'off'
      ? { enabled: false }
      : {
          enabled: true,
          ...(policies.rateLimit === 'redis' ? { storeUrl: requireValue(redisUrl, 'Redis URL') } : {}),
          key: ['ip'],
          policies: [
            { name: 'bench', algorithm: 'sliding-window-counter', limit: 1_000_000_000, windowMs: 60_000 },
          ],
        };
  return {
    ipRules: policies.ipRules ? { allow: ['127.0.0.0/8', '::1'], deny: [] } : { allow: [], deny: [] },
    cors: policies.cors ? { enabled: true, origins: [ORIGIN] } : { enabled: false },
    rateLimit,
    idempotency: { enabled: policies.idempotency },
    securityHeaders: { enabled: policies.securityHeaders },
  };
}

/**
 * Every target is one Node process started the same way (`node FILE CONFIG`, no tsx loader, no
 * NODE_OPTIONS, no GROUNDWORK_* variables), so the only difference is its config file.
 */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_')),
);

function requireValue<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is missing`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Checks: each target must really apply (and only apply) its policies, or the run measures nothing.

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface HttpRequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: string;
}

function httpRequest(url: string, options: HttpRequestOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: options.method, headers: options.headers, agent: false, timeout: 5_000 },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${options.method} ${url} timed out`)));
    request.on('error', reject);
    request.end(options.body);
  });
}

/** The request wrk sends to this target, as node:http options (for the checks). */
function loadRequest(target: Target, idempotencyKey: string): HttpRequestOptions {
  return target.method === 'GET'
    ? { method: 'GET', headers: { origin: ORIGIN } }
    : {
        method: 'POST',
        headers: {
          origin: ORIGIN,
          'content-type': 'application/json',
          'idempotency-key': `"${idempotencyKey}"`,
        },
        body: POST_BODY,
      };
}

function expectThat(target: Target, ok: boolean, what: string, answer?: HttpAnswer): void {
  if (ok) return;
  const seen = answer
    ? `\n  got HTTP ${answer.status}, headers ${JSON.stringify(answer.headers)}, body ${answer.body.slice(0, 300)}`
    : '';
  throw new Error(`${target.name}: ${what}${seen}`);
}

/** Before measuring: one request of each kind, checked header by header against the target's policies. */
async function verifyPolicies(target: Target, base: string, redis: RedisServer | undefined): Promise<void> {
  const p = target.policies;
  const url = base + (target.method === 'GET' ? GET_PATH : POST_PATH);
  const key = `verify-${randomUUID()}`;
  const first = await httpRequest(url, loadRequest(target, key));
  expectThat(target, first.status === 200, `${target.method} ${url} must answer 200`, first);
  if (target.method === 'POST') {
    const body = JSON.parse(first.body) as { got?: unknown };
    expectThat(target, JSON.stringify(body.got) === POST_BODY, 'the route must echo the JSON body', first);
  }
  expectThat(
    target,
    (first.headers['x-content-type-options'] === 'nosniff') === p.securityHeaders,
    `security headers must be ${p.securityHeaders ? 'present' : 'absent'}`,
    first,
  );
  expectThat(
    target,
    (first.headers['access-control-allow-origin'] === ORIGIN) === p.cors,
    `access-control-allow-origin must be ${p.cors ? ORIGIN : 'absent'}`,
    first,
  );
  const limited = p.rateLimit !== 'off';
  expectThat(
    target,
    (typeof first.headers.ratelimit === 'string' && typeof first.headers['ratelimit-policy'] === 'string') ===
      limited,
    `RateLimit and RateLimit-Policy headers must be ${limited ? 'present' : 'absent'}`,
    first,
  );
  // The loopback peer is a trusted proxy, so X-Forwarded-For names the client: outside the allow list.
  const outside = await httpRequest(base + GET_PATH, {
    method: 'GET',
    headers: { origin: ORIGIN, 'x-forwarded-for': OUTSIDE_IP },
  });
  expectThat(
    target,
    outside.status === (p.ipRules ? 403 : 200),
    `a client at ${OUTSIDE_IP} must get ${p.ipRules ? '403 (IP rules)' : '200 (no IP rules)'}`,
    outside,
  );
  if (p.ipRules) {
    expectThat(
      target,
      outside.body.includes('GATEWAY_ERR_IP_DENIED'),
      'the 403 must be the IP rule',
      outside,
    );
  }
  if (target.method === 'POST') {
    const again = await httpRequest(url, loadRequest(target, key));
    expectThat(target, again.status === 200, 'a repeat of the same Idempotency-Key must answer 200', again);
    expectThat(
      target,
      (again.headers['idempotent-replayed'] === 'true') === p.idempotency,
      `a repeat of the same Idempotency-Key must ${p.idempotency ? '' : 'not '}be replayed`,
      again,
    );
  }
  if (p.rateLimit === 'redis') {
    const r = requireValue(redis, 'redis');
    const keys = Number((await redisCommand(r.port, 'DBSIZE')).slice(1));
    expectThat(target, keys > 0, `the rate limit must write to Redis (DBSIZE is ${keys})`);
  }
}

/** `gateway_decisions_total` from /metrics, as "policy/outcome" → count. */
async function gatewayDecisions(base: string): Promise<Map<string, number>> {
  const answer = await httpRequest(`${base}/metrics`, { method: 'GET' });
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`);
  const counts = new Map<string, number>();
  for (const match of answer.body.matchAll(/^gateway_decisions_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries(
      [...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    counts.set(`${labels.policy}/${labels.outcome}`, Number(match[2]));
  }
  return counts;
}

/**
 * Sum and count of `http_request_duration_seconds` for one route: Fastify's time from the request's
 * arrival (before the onRequest hooks) to the response finished, as the platform records it.
 */
async function routeDuration(base: string, route: string): Promise<{ sumS: number; count: number }> {
  const answer = await httpRequest(`${base}/metrics`, { method: 'GET' });
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`);
  let sumS = 0;
  let count = 0;
  for (const match of answer.body.matchAll(
    /^http_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$/gm,
  )) {
    if (!(match[2] ?? '').includes(`route="${route}"`)) continue;
    if (match[1] === 'sum') sumS += Number(match[3]);
    else count += Number(match[3]);
  }
  return { sumS, count };
}

/** After measuring: the server's own counters must show every measured request passed the policies. */
async function verifyDecisions(target: Target, base: string, measured: number): Promise<void> {
  const counts = await gatewayDecisions(base);
  const count = (key: string) => counts.get(key) ?? 0;
  const p = target.policies;
  const problems: string[] = [];
  for (const bad of ['ratelimit/limited', 'ratelimit/store-error', 'ip/denied', 'cors/refused']) {
    // ip/denied: exactly the one check request from OUTSIDE_IP.
    const allowed = bad === 'ip/denied' && p.ipRules ? 1 : 0;
    if (count(bad) !== allowed) problems.push(`${bad} = ${count(bad)}, expected ${allowed}`);
  }
  if (p.rateLimit !== 'off' && count('ratelimit/allowed') < measured) {
    problems.push(`ratelimit/allowed = ${count('ratelimit/allowed')} < ${measured} measured requests`);
  }
  if (p.rateLimit === 'off' && count('ratelimit/allowed') > 0) problems.push('rate limit ran while off');
  if (p.cors && count('cors/allowed') < measured) {
    problems.push(`cors/allowed = ${count('cors/allowed')} < ${measured} measured requests`);
  }
  if (target.method === 'POST' && p.idempotency) {
    if (count('idempotency/executed') < measured) {
      problems.push(
        `idempotency/executed = ${count('idempotency/executed')} < ${measured} measured requests`,
      );
    }
    // Only the check's deliberate repeat may replay: every measured request claimed a new key.
    if (count('idempotency/replayed') !== 1) {
      problems.push(`idempotency/replayed = ${count('idempotency/replayed')}, expected 1`);
    }
  }
  if (!p.idempotency && count('idempotency/executed') + count('idempotency/replayed') > 0) {
    problems.push('idempotency ran while off');
  }
  if (problems.length > 0) {
    throw new Error(
      `${target.name}: gateway_decisions_total does not match the policies: ${problems.join('; ')}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Measurement {
  target: string;
  round: number;
  wrk: Omit<WrkResult, 'raw'>;
  /** Server CPU (user + system) per request during the measured window, in µs. */
  serverCpuUsPerRequest: number | undefined;
  /** Cores' worth of CPU the server used during the window: about 1 means its one thread was saturated. */
  serverCores: number | undefined;
  /** redis-server's CPU per request during the window (full-redis only), in µs. */
  redisCpuUsPerRequest: number | undefined;
  /** Share of all cores busy during the measured window (server + wrk + anything else). */
  machineBusy: number | undefined;
  /** Cores' worth of CPU wrk used during the window. */
  wrkCores: number | undefined;
  /** Cores' worth of CPU used by everything else on the machine (other work: a disturbance). */
  otherCores: number | undefined;
  /**
   * One connection (an unloaded server), from a separate short wrk run: wrk's latency, and the
   * server-side time per request from the platform's own histogram (mean over the run, in µs).
   */
  idle: { requestsPerSec: number; p50: number; p99: number; serverUs: number };
}

async function measure(
  target: Target,
  round: number,
  scratchRoot: string,
  redis: RedisServer | undefined,
): Promise<Measurement> {
  const scratch = path.join(scratchRoot, `${target.name}-r${round}`);
  const dataDir = path.join(scratch, 'data');
  mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(scratch, 'groundwork.config.json');
  const { server, port } = await startServerOnFreePort((p) => {
    const config = {
      dataDir,
      // warn: no access-log line per request, so the log is not what is measured.
      log: { level: 'warn' },
      server: { host: '127.0.0.1', port: p },
      gateway: gatewayConfig(target.policies, redis?.url),
    };
    writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
    return {
      name: target.name,
      command: process.execPath,
      args: [serverScript, configFile],
      cwd: scratch,
      env: childEnv,
      readyUrl: `http://127.0.0.1:${p}${GET_PATH}`,
      stdout: path.join(scratch, 'stdout.log'),
    };
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    if (server.readyBody !== '{"ok":true}') {
      throw new Error(`${target.name}: ${GET_PATH} answered ${server.readyBody}, expected {"ok":true}`);
    }
    await verifyPolicies(target, base, redis);

    const url = base + (target.method === 'GET' ? GET_PATH : POST_PATH);
    // Identical requests for every target of a method: the same headers whether or not they are used.
    const load = (connections: number, durationS: number): WrkOptions =>
      target.method === 'GET'
        ? { url, threads: settings.threads, connections, durationS, headers: { Origin: ORIGIN } }
        : {
            url,
            threads: Math.min(settings.threads, connections),
            connections,
            durationS,
            headers: { Origin: ORIGIN, 'Content-Type': 'application/json' },
            script: postScript,
            // A new key prefix per wrk run: no run may replay another's keys.
            scriptArgs: [randomUUID(), POST_BODY],
          };
    await runWrk(load(settings.connections, settings.warmupS));
    const cpuBefore = processCpuMs(server.pid);
    const redisBefore = target.policies.rateLimit === 'redis' && redis ? processCpuMs(redis.pid) : undefined;
    const wallBefore = performance.now();
    const sysBefore = systemCpuSample();
    const childrenBefore = reapedChildrenCpuMs();
    const { raw: _raw, ...wrk } = await runWrk(load(settings.connections, settings.durationS));
    const cpu = cpuDelta(cpuBefore, processCpuMs(server.pid));
    // wrk has exited and been waited for: its whole CPU time is now in this process's children's.
    const wrkCpu = cpuDelta(childrenBefore, reapedChildrenCpuMs());
    const redisCpu =
      redisBefore !== undefined && redis ? cpuDelta(redisBefore, processCpuMs(redis.pid)) : undefined;
    const wallMs = performance.now() - wallBefore;
    const machineBusy = busyShare(sysBefore, systemCpuSample());
    const otherCores =
      machineBusy === undefined || cpu === undefined || wrkCpu === undefined
        ? undefined
        : Math.max(0, machineBusy * cores - (cpu + wrkCpu + (redisCpu ?? 0)) / wallMs);
    if (wrk.requests === 0) throw new Error(`${target.name}: wrk completed no requests against ${url}`);
    if (wrk.non2xx3xx > 0) {
      throw new Error(`${target.name}: ${wrk.non2xx3xx} responses were not 2xx/3xx; the run measured errors`);
    }
    const route = target.method === 'GET' ? GET_PATH : POST_PATH;
    const durationBefore = await routeDuration(base, route);
    const { raw: _idleRaw, ...idle } = await runWrk({ ...load(1, settings.idleS), threads: 1 });
    const durationAfter = await routeDuration(base, route);
    if (idle.non2xx3xx > 0) throw new Error(`${target.name}: ${idle.non2xx3xx} non-2xx in the idle probe`);
    const idleCount = durationAfter.count - durationBefore.count;
    if (idleCount < idle.requests) {
      throw new Error(
        `${target.name}: the route histogram counted ${idleCount} of ${idle.requests} requests`,
      );
    }
    await verifyDecisions(target, base, wrk.requests + idle.requests);
    return {
      target: target.name,
      round,
      wrk,
      serverCpuUsPerRequest: cpu === undefined ? undefined : (cpu * 1_000) / wrk.requests,
      serverCores: cpu === undefined ? undefined : cpu / wallMs,
      redisCpuUsPerRequest: redisCpu === undefined ? undefined : (redisCpu * 1_000) / wrk.requests,
      machineBusy,
      wrkCores: wrkCpu === undefined ? undefined : wrkCpu / wallMs,
      otherCores,
      idle: {
        requestsPerSec: idle.requestsPerSec,
        p50: idle.latencyMs.p50,
        p99: idle.latencyMs.p99,
        serverUs: ((durationAfter.sumS - durationBefore.sumS) * 1e6) / idleCount,
      },
    };
  } catch (error) {
    const tail = server.stderrTail().trim();
    if (tail) console.error(`--- ${target.name} stderr ---\n${tail}`);
    throw error;
  } finally {
    const exit = await server.stop();
    if (exit.killed) console.warn(`  ${target.name} ignored SIGTERM and was killed`);
  }
}

interface Summary {
  target: Target;
  requestsPerSec: number;
  p50: number;
  p99: number;
  serverCpuUsPerRequest: number | undefined;
  redisCpuUsPerRequest: number | undefined;
  idleP50: number;
  idleServerUs: number;
  perRound: readonly number[];
  p99PerRound: readonly number[];
  socketErrors: number;
}

function medianOrUndefined(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length > 0 ? median(present) : undefined;
}

function summarise(target: Target, all: readonly Measurement[]): Summary {
  const mine = all.filter((m) => m.target === target.name).sort((a, b) => a.round - b.round);
  // A window other work still disturbed after every attempt is left out while clean rounds remain.
  const clean = mine.filter((m) => !disturbed(m));
  const runs = clean.length > 0 ? clean : mine;
  return {
    target,
    requestsPerSec: median(runs.map((m) => m.wrk.requestsPerSec)),
    p50: median(runs.map((m) => m.wrk.latencyMs.p50)),
    p99: median(runs.map((m) => m.wrk.latencyMs.p99)),
    serverCpuUsPerRequest: medianOrUndefined(runs.map((m) => m.serverCpuUsPerRequest)),
    redisCpuUsPerRequest: medianOrUndefined(runs.map((m) => m.redisCpuUsPerRequest)),
    idleP50: median(runs.map((m) => m.idle.p50)),
    idleServerUs: median(runs.map((m) => m.idle.serverUs)),
    perRound: runs.map((m) => m.wrk.requestsPerSec),
    p99PerRound: runs.map((m) => m.wrk.latencyMs.p99),
    socketErrors: runs.reduce(
      (sum, m) => sum + Object.values(m.wrk.socketErrors).reduce((a, b) => a + b, 0),
      0,
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function formatCpuUs(value: number | undefined): string {
  return value === undefined ? 'n/a' : value.toFixed(1);
}

function formatAddedUs(value: number | undefined): string {
  if (value === undefined) return 'n/a';
  return `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(1)}`;
}

/** The command as typed, with any BENCH_* overrides in front. */
function commandLine(): string {
  const overrides = Object.entries(process.env)
    .filter(([key, value]) => key.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([key, value]) => `${key}=${value}`)
    .sort();
  return [...overrides, `npx tsx bench/${NAME}.ts`].join(' ');
}

function report(
  summaries: readonly Summary[],
  measurements: readonly Measurement[],
  repeats: readonly Repeat[],
  startedAt: Date,
): void {
  const machine = machineInfo();
  const revision = gitRevision();
  const byName = new Map(summaries.map((s) => [s.target.name, s]));
  const get = (name: string): Summary => requireValue(byName.get(name), `summary of ${name}`);
  const added = (s: Summary): number | undefined => {
    const base = get(s.target.baseline).serverCpuUsPerRequest;
    return s.serverCpuUsPerRequest === undefined || base === undefined
      ? undefined
      : s.serverCpuUsPerRequest - base;
  };
  const headers = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'server CPU µs/req',
    'added CPU µs/req',
    'req/s vs none',
  ];
  const align = ['left', 'right', 'right', 'right', 'right', 'right', 'right'] as const;
  const rows = summaries.map((s) => [
    `${s.target.name}${s.target.method === 'POST' ? ' (POST)' : ''}`,
    formatInt(s.requestsPerSec),
    formatMs(s.p50),
    formatMs(s.p99),
    formatCpuUs(s.serverCpuUsPerRequest),
    s.target.baseline === s.target.name ? '(baseline)' : formatAddedUs(added(s)),
    formatRatio(s.requestsPerSec / get(s.target.baseline).requestsPerSec),
  ]);
  const idleHeaders = ['target', 'server µs/req', 'added µs', 'wrk p50 µs'];
  const idleAlign = ['left', 'right', 'right', 'right'] as const;
  const idleRows = summaries.map((s) => [
    s.target.name,
    s.idleServerUs.toFixed(1),
    s.target.baseline === s.target.name
      ? '(baseline)'
      : formatAddedUs(s.idleServerUs - get(s.target.baseline).idleServerUs),
    formatInt(s.idleP50 * 1_000),
  ]);
  const wrkArgs = `wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency`;
  console.log(`\n${textTable(headers, rows, align)}\n\n${textTable(idleHeaders, idleRows, idleAlign)}\n`);

  const chartFile = `${NAME}.svg`;
  const date = startedAt.toISOString().slice(0, 10);
  writeBenchmarkAsset(
    chartFile,
    barChartSvg({
      title: `Gateway policies: requests/s (median of ${settings.rounds}, higher is better)`,
      subtitle: `${wrkArgs}, ${date}, ${machine.cores} cores, Node ${machine.node}`,
      bars: summaries.map((s) => ({
        label: `${s.target.method} ${s.target.name}`,
        value: s.requestsPerSec,
        // Accent on the targets with policies on; the all-off baselines in grey.
        highlight: s.target.baseline !== s.target.name,
      })),
    }),
  );
  writeBenchmarkAsset(
    `${NAME}.json`,
    `${JSON.stringify(
      {
        startedAt,
        command: commandLine(),
        revision,
        machine,
        settings,
        targets: targets.map((t) => ({ name: t.name, method: t.method, policies: t.policies })),
        measurements,
      },
      null,
      2,
    )}\n`,
  );

  const none = get('none');
  const defaults = get('defaults');
  const fullMemory = get('full-memory');
  const fullRedis = get('full-redis');
  const postNone = get('post-none');
  const postIdempotent = get('post-idempotent');
  const diff = (a: Summary, b: Summary): number | undefined =>
    a.serverCpuUsPerRequest === undefined || b.serverCpuUsPerRequest === undefined
      ? undefined
      : a.serverCpuUsPerRequest - b.serverCpuUsPerRequest;
  const us = (value: number | undefined) => (value === undefined ? 'n/a' : `${value.toFixed(1)} µs`);
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const idleAdded = (s: Summary) => `${(s.idleServerUs - get(s.target.baseline).idleServerUs).toFixed(1)} µs`;
  // Idempotency's own share: the POST's added cost minus what the same policies cost on a GET.
  const postAdded = diff(postIdempotent, postNone);
  const getAdded = diff(fullMemory, none);
  const idempotencyShare =
    postAdded === undefined || getAdded === undefined ? undefined : postAdded - getAdded;
  // The windows the medians use (see summarise): every clean one, and a disturbed one only for lack of another.
  const summarisedClean = (name: string) => measurements.some((m) => m.target === name && !disturbed(m));
  const kept = measurements.filter((m) => !disturbed(m) || !summarisedClean(m.target));
  const cores = kept.flatMap((m) => (m.serverCores === undefined ? [] : [m.serverCores]));
  const unsaturated = [...new Set(kept.filter((m) => (m.serverCores ?? 1) < 0.9).map((m) => m.target))];
  const boundNote =
    cores.length === 0
      ? ''
      : unsaturated.length === 0
        ? `- Every server was CPU-bound under load (${Math.min(...cores).toFixed(2)}–${Math.max(...cores).toFixed(2)} cores: one JavaScript thread, which also runs the SQLite statements, plus GC helper threads), so req/s follows the inverse of the CPU column.\n`
        : `- **Not CPU-bound:** ${unsaturated.map((t) => `\`${t}\``).join(', ')} used under 0.9 cores in at least one round (${Math.min(...cores).toFixed(2)}–${Math.max(...cores).toFixed(2)} across all), so req/s there was limited by something other than the server's CPU (wrk, or waiting on Redis/SQLite); trust the CPU column more.\n`;
  // How far one target's CPU µs/req moved between rounds: the typical (median) spread over targets.
  const cpuSpreads = targets.map((t) => {
    const cpu = kept.flatMap((m) =>
      m.target === t.name && m.serverCpuUsPerRequest !== undefined ? [m.serverCpuUsPerRequest] : [],
    );
    return cpu.length > 0 ? Math.max(...cpu) - Math.min(...cpu) : 0;
  });
  const cpuSpreadUs = median(cpuSpreads);
  /** Flags a difference of medians that the spread between rounds could account for. */
  const noise = (d: number | undefined) =>
    d !== undefined && Math.abs(d) <= cpuSpreadUs
      ? ` (no larger than the typical ${cpuSpreadUs.toFixed(1)} µs spread between rounds: small, and not resolved precisely here)`
      : '';
  const idleSpreadUs = Math.round(
    Math.max(
      ...targets.map((t) => {
        const p50s = kept.filter((m) => m.target === t.name).map((m) => m.idle.p50);
        return (Math.max(...p50s) - Math.min(...p50s)) * 1_000;
      }),
    ),
  );
  const others = kept.flatMap((m) => (m.otherCores === undefined ? [] : [m.otherCores]));
  const stillDisturbed = measurements.filter(disturbed);
  const disturbanceNote =
    others.length === 0
      ? ''
      : `A window in which other work on the machine (all busy CPU minus the server's, wrk's and Redis's) took more than ${OTHER_CORES_LIMIT} cores was measured again, up to ${settings.attempts} attempts: ${
          repeats.length === 0
            ? 'none was needed in this run'
            : `${repeats.length} time(s) in this run (${repeats.map((r) => `${r.target} round ${r.round}: ${r.otherCores.toFixed(2)} cores`).join(', ')})`
        }; in the windows used, other work took ${Math.min(...others).toFixed(2)}–${Math.max(...others).toFixed(2)} cores.${
          stillDisturbed.length > 0
            ? ` **Still disturbed after ${settings.attempts} attempts:** ${stillDisturbed
                .map(
                  (m) =>
                    `${m.target} round ${m.round} (${summarisedClean(m.target) ? 'left out of the medians; its other rounds are used' : 'used for lack of a clean round: read it with care'})`,
                )
                .join(', ')}.`
            : ''
        }`;
  // A p99 far above the queueing the p50 shows: some requests waited much longer than the rest.
  const tails = summaries.filter((s) => Math.max(...s.p99PerRound) > 5 * s.p50);
  const tailNote =
    tails.length === 0
      ? ''
      : ` Long tails: ${tails
          .map(
            (s) =>
              `\`${s.target.name}\` had a p99 of ${s.p99PerRound.map(formatMs).join(' / ')} ms over the rounds against a p50 of ${formatMs(s.p50)} ms`,
          )
          .join(
            '; ',
          )}: some requests waited far longer than the queue explains. This script does not break that down; a one-off diagnosis of \`post-idempotent\` when it was written found the slow requests waiting unread in the server's socket buffers while the event loop was busy (the route's own server-side time stayed under 25 ms, event-loop stalls under 60 ms), so the tail is in the order sockets get served, not in the policies' own work.`;
  const errors = summaries.filter((s) => s.socketErrors > 0);
  const busy = kept.flatMap((m) => (m.machineBusy === undefined ? [] : [m.machineBusy]));

  const body = `## Gateway pipeline: what the policies add per request

The added cost of the full gateway pipeline (IP rule + CORS + rate limit + idempotency, with the
default security headers) per request against the same process with every policy off (issue 5).

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${revision}\` (\`dist/\` build)
- **Command:** \`${commandLine()}\` from the repository root (builds \`dist/\` first if it is missing)
- **Machine:** ${formatMachine(machine)}
- **Server:** \`node bench/servers/groundwork-gateway.mjs CONFIG\`: the real \`Platform\` from \`dist/\` (SQLite in WAL mode, log level \`warn\`, so no access-log line per request) with two bench-only public routes, \`GET ${GET_PATH}\` → \`{"ok":true}\` and \`POST ${POST_PATH}\` echoing its JSON body. Targets differ only in the \`gateway\` section of their config file.
- **Load:** \`${wrkArgs} http://127.0.0.1:PORT/…\` per target after a ${settings.warmupS} s warm-up at the same settings; GET targets get \`-H 'Origin: ${ORIGIN}'\`, POST targets run [\`bench/servers/post-json.lua\`](../bench/servers/post-json.lua) (the same ${Buffer.byteLength(POST_BODY)}-byte JSON body and a new \`Idempotency-Key\` on every request, whether the target honours it or not), so each target of a method receives byte-for-byte the same requests. Then \`wrk -t1 -c1 -d${settings.idleS}s\` for the unloaded latency. ${settings.rounds} round(s), targets interleaved with the order rotated each round; each figure is the median over rounds. wrk and the server share the machine's ${machine.cores} cores.${busy.length > 0 ? ` All cores were ${pct(Math.min(...busy))}–${pct(Math.max(...busy))} busy during the measured windows.` : ''} ${disturbanceNote}
- **Checked before and after each measurement** (the run stops otherwise): the response headers show exactly the target's policies (security headers, \`access-control-allow-origin\`, \`RateLimit\`/\`RateLimit-Policy\`); a request claiming \`X-Forwarded-For: ${OUTSIDE_IP}\` gets 403 \`GATEWAY_ERR_IP_DENIED\` where the allow list is on and 200 elsewhere; on POST a repeated key is replayed (\`idempotent-replayed: true\`) only on \`post-idempotent\`; \`full-redis\` wrote its counters to Redis; after the run, the server's \`gateway_decisions_total\` counted at least one rate-limit/CORS/idempotency decision per measured request, no refusals, no store errors, and no replays; wrk saw only 2xx.

${markdownTable(headers, rows, align)}

"added CPU µs/req" and "req/s vs none" compare each target with its all-off baseline of the same method (\`none\` for GET, \`post-none\` for POST). One target's server CPU µs/req typically moved by ${cpuSpreadUs.toFixed(1)} µs between rounds (up to ${Math.max(...cpuSpreads).toFixed(1)} µs), which bounds how finely the differences below are resolved. req/s per round: ${summaries
    .map((s) => `${s.target.name} ${s.perRound.map(formatInt).join(' / ')}`)
    .join('; ')}.${
    errors.length > 0
      ? ` **Socket errors** (connect/read/write/timeout) during the run: ${errors
          .map((s) => `${s.target.name} ${s.socketErrors}`)
          .join(', ')}.`
      : ' No socket errors, every response 200.'
  }

Unloaded (one connection, one request at a time): "server µs/req" is the mean of the platform's own \`http_request_duration_seconds\` for the route over that run (from the request's arrival, before the gateway's first hook, to the response finished), so it is the time the pipeline adds to a request on an idle server, waits on Redis or SQLite included. wrk's p50 adds the loopback trip and the scheduler waking both processes; on this VM it moved by up to ${idleSpreadUs} µs between rounds of the same target (CPU idle states), so it is shown for reference only:

${markdownTable(idleHeaders, idleRows, idleAlign)}

![Gateway pipeline requests/s per target](benchmarks/${chartFile})

Targets:
${summaries.map((s) => `- \`${s.target.name}\` (${s.target.method}): ${s.target.description}`).join('\n')}

**What the added microseconds buy.**

- "server CPU µs/req" is the server process's CPU time (user + system) over the measured window divided by the requests it served. The pipeline runs on the request's own path, so on a server that is not saturated the CPU it adds is latency added to every request; the one-connection table measures that directly (for \`full-redis\` it also contains the Redis round trip, time spent waiting rather than computing).
- Security headers (\`defaults\` − \`none\`): ${us(diff(defaults, none))} per request${noise(diff(defaults, none))} for five response headers.
- IP allow list + CORS + in-memory rate limit (\`full-memory\` − \`defaults\`): ${us(diff(fullMemory, defaults))}${noise(diff(fullMemory, defaults))}: the allow-list match (\`net.BlockList\`), the origin check and three CORS response headers (\`access-control-allow-origin\`, \`access-control-expose-headers\`, \`vary\`), a sliding-window-counter decision, and the two \`RateLimit\`/\`RateLimit-Policy\` header fields. The whole GET pipeline costs ${us(getAdded)} (${formatRatio(fullMemory.requestsPerSec / none.requestsPerSec)} of \`none\`'s req/s); unloaded, ${idleAdded(fullMemory)} of server time.
- Rate limit in Redis instead of memory (\`full-redis\` − \`full-memory\`): ${formatAddedUs(diff(fullRedis, fullMemory))} µs in the Groundwork process${noise(diff(fullRedis, fullMemory))} (ioredis encoding the script call and parsing the reply, in place of the memory store's own bookkeeping; under load ioredis pipelines many callers' commands into one write), plus ${us(fullRedis.redisCpuUsPerRequest)} of redis-server's own CPU per request on the same machine; unloaded, \`full-redis\` adds ${idleAdded(fullRedis)} of server time over \`none\`, ${(fullRedis.idleServerUs - fullMemory.idleServerUs).toFixed(1)} µs more than \`full-memory\`: the request waits for the Redis round trip, which costs little CPU but is added to its latency.
- Idempotency on a POST (\`post-idempotent\` − \`post-none\`): ${us(postAdded)} per request, of which about ${us(idempotencyShare)} is idempotency itself (the rest is the GET pipeline above): parsing the key, a SHA-256 fingerprint of method, path and body, an \`INSERT … ON CONFLICT DO NOTHING\` to claim the key, and an \`UPDATE\` storing status, headers and the base64 body, both synchronous better-sqlite3 calls on the event loop (WAL, \`synchronous = NORMAL\`: no fsync per commit, but every ~1000 WAL pages an automatic checkpoint copies them into the database file and fsyncs, inside whichever statement crosses the threshold). A CPU profile of this target (a one-off \`node --cpu-prof\` run when this benchmark was written, not repeated by the script) put about a quarter of the server's busy time in better-sqlite3 executing the two statements and appending to the WAL, about a tenth in \`prepare\` (Kysely's SQLite driver prepares every statement anew; there is no statement cache) and about a tenth in Kysely building and compiling the queries. That is what makes a retried POST safe; it is paid only by requests that carry an \`Idempotency-Key\` on a configured method. Unloaded, ${idleAdded(postIdempotent)} of server time.
${boundNote}- p50/p99 under load are measured with ${settings.connections} connections at saturation, so they are mostly queueing (connections ÷ throughput) and move with req/s.${tailNote}
- The route does no work of its own, so these are upper bounds on the relative cost; a route that reads the database makes the fixed pipeline cost a smaller share. Absolute numbers vary ±20% between runs on this machine: compare by ratio within one run.
`;
  writeBenchmarkSection(NAME, body);
  console.log(
    `wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${chartFile}, docs/benchmarks/${NAME}.json`,
  );
}

/** A measurement thrown away because other work on the machine took CPU during it. */
interface Repeat {
  target: string;
  round: number;
  otherCores: number;
}

function disturbed(m: Measurement): boolean {
  return m.otherCores !== undefined && m.otherCores > OTHER_CORES_LIMIT;
}

async function main(): Promise<void> {
  wrkBinary(); // fail before building anything if the load generator is missing
  buildDist();
  const startedAt = new Date();
  const scratchRoot = path.join(benchTmpRoot, `${NAME}-${process.pid}`);
  mkdirSync(scratchRoot, { recursive: true });
  const measurements: Measurement[] = [];
  const repeats: Repeat[] = [];
  console.log(
    `${NAME}: ${targets.length} targets × ${settings.rounds} round(s), wrk -t${settings.threads} ` +
      `-c${settings.connections} -d${settings.durationS}s after ${settings.warmupS} s warm-up, ` +
      `then -c1 -d${settings.idleS}s`,
  );
  let redis: RedisServer | undefined;
  try {
    if (targets.some((t) => t.policies.rateLimit === 'redis')) {
      redis = await startRedis();
      console.log(`  redis-server pid ${redis.pid} on ${redis.url}`);
    }
    for (let round = 1; round <= settings.rounds; round++) {
      // Rotating the order spreads any drift (thermal, other work on the box) over all targets.
      const shift = (round - 1) % targets.length;
      for (const target of [...targets.slice(shift), ...targets.slice(0, shift)]) {
        let m = await measure(target, round, scratchRoot, redis);
        for (let attempt = 2; attempt <= settings.attempts && disturbed(m); attempt++) {
          console.log(
            `  round ${round}/${settings.rounds} ${target.name.padEnd(15)} disturbed: other work took ` +
              `${m.otherCores?.toFixed(2)} cores; measuring again (attempt ${attempt}/${settings.attempts})`,
          );
          repeats.push({ target: target.name, round, otherCores: m.otherCores ?? 0 });
          await delay(5_000);
          m = await measure(target, round, scratchRoot, redis);
        }
        measurements.push(m);
        console.log(
          `  round ${round}/${settings.rounds} ${target.name.padEnd(15)} ${formatInt(m.wrk.requestsPerSec).padStart(7)} req/s` +
            `  p50 ${formatMs(m.wrk.latencyMs.p50)} ms  p99 ${formatMs(m.wrk.latencyMs.p99)} ms` +
            `  ${formatCpuUs(m.serverCpuUsPerRequest)} µs CPU/req` +
            (m.serverCores === undefined ? '' : `  server ${m.serverCores.toFixed(2)} cores`) +
            (m.redisCpuUsPerRequest === undefined
              ? ''
              : `  redis ${formatCpuUs(m.redisCpuUsPerRequest)} µs/req`) +
            (m.machineBusy === undefined ? '' : `  machine ${Math.round(m.machineBusy * 100)}% busy`) +
            (m.wrkCores === undefined ? '' : `  wrk ${m.wrkCores.toFixed(2)}`) +
            (m.otherCores === undefined ? '' : `  other ${m.otherCores.toFixed(2)} cores`) +
            `  1 conn: server ${m.idle.serverUs.toFixed(1)} µs/req, wrk p50 ${formatInt(m.idle.p50 * 1_000)} µs`,
        );
      }
    }
  } finally {
    await redis?.destroy();
    rmSync(scratchRoot, { recursive: true, force: true });
    try {
      rmdirSync(benchTmpRoot); // only when no other benchmark's scratch dir is in it
    } catch {
      // not empty: another run is using it
    }
  }
  report(
    targets.map((t) => summarise(t, measurements)),
    measurements,
    repeats,
    startedAt,
  );
}

await main();
