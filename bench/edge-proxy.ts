/**
 * Edge proxy: requests/s, latency and CPU per request of one small GET through Groundwork's reverse
 * proxy and through the peers issue 7 names — nginx, HAProxy, fastify + @fastify/reply-from,
 * http-proxy and a minimal undici proxy — all in front of the same upstream, and that upstream
 * without a proxy, measured in one run. Results go to the `edge-proxy` section of
 * docs/benchmarks.md.
 *
 *   npx tsx bench/edge-proxy.ts            (npm run bench:edge-proxy)
 *
 * The upstream is one nginx process (one worker) serving a static body (`GET /healthz` →
 * `{"status":"ok"}`) on three ports, so every proxy balances round robin over three targets while
 * there is still one upstream process; it runs for the whole benchmark. Each proxy is one process
 * (one worker / one thread / one Node process) started per measurement and stopped by PID.
 *
 * Two scenarios, each proxy configured as close to the other as it allows:
 * - **routing**: `/up/*` routed to the group with the prefix stripped, round robin over the three
 *   targets (Groundwork also once with `bypassGateway`, before Fastify and the gateway);
 * - **policies**: the same plus a per-client-IP rate limit (whose limit is never reached: its cost is
 *   measured, not refusals) and one request header set upstream.
 * Before each measurement the proxy is checked: six requests reach all three upstream ports (round
 * robin is on) and, with policies, the upstream sees the header (and the rate-limit headers where the
 * proxy sends them).
 *
 * The Node peers live in bench/peers/edge-proxy with their own package.json and lockfile and are
 * installed there (`npm ci`) on first use; nginx and HAProxy come from apt (`apt-get install -y
 * nginx haproxy`).
 *
 * Environment: BENCH_DURATION_S (10), BENCH_CONNECTIONS (64), BENCH_THREADS (1, wrk threads),
 * BENCH_WARMUP_S (2), BENCH_ROUNDS (2), BENCH_NGINX (/usr/sbin/nginx), BENCH_HAPROXY
 * (/usr/sbin/haproxy); BENCH_CHECK_ONLY=1 starts and checks every (scenario, target) pair, measures
 * nothing and writes nothing (a quick test of the set-up on a new machine); BENCH_REPORT_FROM=FILE
 * re-renders the section from a saved run (docs/benchmarks/edge-proxy.json) without measuring.
 */
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { buildDist } from './lib/build.js';
import { formatInt, formatMs, formatRatio, markdownTable, textTable } from './lib/format.js';
import { formatMachine, gitRevision, type MachineInfo, machineInfo } from './lib/machine.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { freePort } from './lib/port.js';
import { busyShare, processCpuMs, systemCpuSample } from './lib/proc-cpu.js';
import {
  type ServerProcess,
  type StartServerOptions,
  startServer,
  startServerOnFreePort,
} from './lib/server-process.js';
import { median, positiveIntFromEnv } from './lib/stats.js';
import { runWrk, type WrkResult, wrkBinary } from './lib/wrk.js';

const NAME = 'edge-proxy';
const UPSTREAM_PATH = '/healthz';
const UPSTREAM_BODY = '{"status":"ok"}';
/** The prefix the proxies route on and strip: `/up/healthz` → upstream `/healthz`. */
const PREFIX = '/up';
const UPSTREAM_PORTS = 3;
/** Set upstream by every proxy in the policies scenario; the upstream echoes it at `/bench-header`. */
const TRANSFORM_HEADER = 'x-bench-transform';
const TRANSFORM_VALUE = '1';
/** Per client IP and minute: never reached, so no request is refused. */
const RATE_LIMIT = 1_000_000_000;
const RATE_WINDOW_MS = 60_000;

const settings = {
  durationS: positiveIntFromEnv('BENCH_DURATION_S', 10),
  connections: positiveIntFromEnv('BENCH_CONNECTIONS', 64),
  threads: positiveIntFromEnv('BENCH_THREADS', 1),
  warmupS: positiveIntFromEnv('BENCH_WARMUP_S', 2),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 2),
  checkOnly: process.env.BENCH_CHECK_ONLY === '1',
  nginx: process.env.BENCH_NGINX?.trim() || '/usr/sbin/nginx',
  haproxy: process.env.BENCH_HAPROXY?.trim() || '/usr/sbin/haproxy',
};

type Scenario = 'routing' | 'policies';
const SCENARIOS: readonly Scenario[] = ['routing', 'policies'];
const SCENARIO_TITLES: Record<Scenario, string> = {
  routing: '(a) routing + round robin',
  policies: '(b) routing + rate limit + one header transform',
};

const peersDir = path.join(repoRoot, 'bench', 'peers', 'edge-proxy');
const PEER_PACKAGES = ['fastify', '@fastify/reply-from', '@fastify/rate-limit', 'http-proxy'] as const;

/**
 * Every Node target is started the same way (`node FILE`, no tsx loader, no NODE_OPTIONS, no
 * GROUNDWORK_* variables), so the only difference is the code that answers.
 */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_')),
);
const groundworkBin = path.join(repoRoot, 'bin', 'groundwork.js');

interface Upstream {
  server: ServerProcess;
  ports: readonly number[];
  urls: readonly string[];
}

interface Target {
  name: string;
  /** Groundwork itself (highlighted in the charts), as opposed to a peer. */
  groundwork: boolean;
  scenarios: readonly Scenario[];
  /** What it is and how it routes and balances. */
  description: string;
  /** What it does in the policies scenario. */
  policies?: string;
  /** A response header that shows the proxy's rate limit is on (checked before measuring). */
  rateLimitHeader?: string;
  options(
    port: number,
    scratch: string,
    upstream: Upstream,
    scenario: Scenario,
  ): Omit<StartServerOptions, 'name' | 'readyUrl'>;
}

function groundwork(bypassGateway: boolean) {
  return (port: number, scratch: string, upstream: Upstream, scenario: Scenario) => {
    const dataDir = path.join(scratch, 'data');
    mkdirSync(dataDir, { recursive: true });
    const policies = scenario === 'policies';
    const config = {
      ...(policies
        ? {
            gateway: {
              rateLimit: {
                enabled: true,
                key: ['ip'],
                policies: [
                  {
                    name: 'bench',
                    algorithm: 'sliding-window-counter',
                    limit: RATE_LIMIT,
                    windowMs: RATE_WINDOW_MS,
                  },
                ],
              },
            },
          }
        : {}),
      edge: {
        serveApi: false,
        groups: {
          upstream: { targets: upstream.urls.map((url) => ({ url })), balancer: 'round-robin' },
        },
        routes: [
          {
            prefix: PREFIX,
            stripPrefix: true,
            group: 'upstream',
            access: 'public',
            bypassGateway,
            ...(policies ? { transform: { request: { set: { [TRANSFORM_HEADER]: TRANSFORM_VALUE } } } } : {}),
          },
        ],
      },
    };
    writeFileSync(path.join(scratch, 'groundwork.config.json'), JSON.stringify(config, null, 2));
    return {
      command: process.execPath,
      args: [
        groundworkBin,
        'start',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--data-dir',
        dataDir,
        '--log-level',
        'warn',
      ],
      // The scratch dir as cwd: its groundwork.config.json is the one read.
      cwd: scratch,
      env: childEnv,
    };
  };
}

/** A Node peer from bench/peers/edge-proxy. */
function nodePeer(file: string) {
  return (port: number, _scratch: string, upstream: Upstream, scenario: Scenario) => ({
    command: process.execPath,
    args: [
      path.join(peersDir, file),
      '--port',
      String(port),
      '--upstreams',
      upstream.urls.join(','),
      ...(scenario === 'policies' ? ['--policies'] : []),
    ],
    env: childEnv,
  });
}

/** The temp paths nginx insists on, inside the scratch dir. */
function nginxPrelude(scratch: string): string {
  const dir = (name: string) => path.join(scratch, name);
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(dir(sub), { recursive: true });
  }
  return `daemon off;
worker_processes 1;
pid ${dir('nginx.pid')};
error_log ${dir('error.log')} warn;
events { worker_connections 4096; }`;
}

function nginxTempPaths(scratch: string): string {
  const dir = (name: string) => path.join(scratch, name);
  return `  client_body_temp_path ${dir('client_body')};
  proxy_temp_path ${dir('proxy')};
  fastcgi_temp_path ${dir('fastcgi')};
  uwsgi_temp_path ${dir('uwsgi')};
  scgi_temp_path ${dir('scgi')};`;
}

/** The upstream: one worker, a static body on three ports, and two probes the checks read. */
function upstreamNginxConfig(ports: readonly number[], scratch: string): string {
  return `# Written by bench/edge-proxy.ts: the upstream every proxy forwards to.
${nginxPrelude(scratch)}
http {
  access_log off;
${nginxTempPaths(scratch)}
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
${ports.map((p) => `    listen 127.0.0.1:${p};`).join('\n')}
    location = ${UPSTREAM_PATH} { default_type application/json; return 200 '${UPSTREAM_BODY}'; }
    location = /bench-port { default_type text/plain; return 200 $server_port; }
    location = /bench-header { default_type text/plain; return 200 $http_${TRANSFORM_HEADER.replaceAll('-', '_')}; }
  }
}
`;
}

function nginxProxyConfig(port: number, scratch: string, upstream: Upstream, scenario: Scenario): string {
  const policies = scenario === 'policies';
  return `# Written by bench/edge-proxy.ts: nginx as the reverse proxy.
${nginxPrelude(scratch)}
http {
  access_log off;
${nginxTempPaths(scratch)}
  keepalive_requests 1000000;
${
  policies
    ? `  limit_req_zone $binary_remote_addr zone=bench:10m rate=${Math.round(RATE_LIMIT / (RATE_WINDOW_MS / 1_000))}r/s;
  limit_req_status 429;
`
    : ''
}  upstream backend {
${upstream.urls.map((url) => `    server ${new URL(url).host};`).join('\n')}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location ${PREFIX}/ {
${policies ? '      limit_req zone=bench burst=1000000 nodelay;\n' : ''}      proxy_pass http://backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
${policies ? `      proxy_set_header ${TRANSFORM_HEADER} ${TRANSFORM_VALUE};\n` : ''}    }
  }
}
`;
}

function haproxyConfig(port: number, upstream: Upstream, scenario: Scenario): string {
  const policies = scenario === 'policies';
  return `# Written by bench/edge-proxy.ts: HAProxy as the reverse proxy (one process, one thread).
global
  nbthread 1
  maxconn 4096

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  option http-keep-alive
  http-reuse always

frontend fe
  bind 127.0.0.1:${port}
${
  policies
    ? `  stick-table type ip size 100k expire ${RATE_WINDOW_MS / 1_000}s store http_req_rate(${RATE_WINDOW_MS / 1_000}s)
  http-request track-sc0 src
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${RATE_LIMIT} }
`
    : ''
}  acl proxied path_beg ${PREFIX}/
  http-request deny deny_status 404 unless proxied
  default_backend upstream

backend upstream
  balance roundrobin
  option forwardfor
  http-request set-path %[path,regsub(^${PREFIX}/,/)]
${policies ? `  http-request set-header ${TRANSFORM_HEADER} ${TRANSFORM_VALUE}\n` : ''}${upstream.urls
  .map((url, i) => `  server s${i + 1} ${new URL(url).host}`)
  .join('\n')}
`;
}

const BOTH: readonly Scenario[] = SCENARIOS;

const targets: readonly Target[] = [
  {
    name: 'direct',
    groundwork: false,
    scenarios: ['routing'],
    description: `the upstream itself, no proxy: nginx (one worker) answering \`GET ${UPSTREAM_PATH}\` with a static \`${UPSTREAM_BODY}\` on the first of its ${UPSTREAM_PORTS} ports.`,
    options: () => {
      throw new Error('the upstream is started once for the whole run');
    },
  },
  {
    name: 'nginx',
    groundwork: false,
    scenarios: BOTH,
    description:
      "`/usr/sbin/nginx`, one worker, `proxy_pass` to an `upstream` block of the three ports (round robin, nginx's default) with `keepalive 64` (HTTP/1.1), `X-Forwarded-For`/`-Proto` and `Host` set, prefix stripped, access log off.",
    policies: `\`limit_req_zone $binary_remote_addr\` (rate ${formatInt(RATE_LIMIT / (RATE_WINDOW_MS / 1_000))} r/s) with \`limit_req … burst=1000000 nodelay\` (per client IP, leaky bucket), and \`proxy_set_header ${TRANSFORM_HEADER} ${TRANSFORM_VALUE}\`.`,
    options: (port, scratch, upstream, scenario) => {
      const conf = path.join(scratch, 'nginx.conf');
      writeFileSync(conf, nginxProxyConfig(port, scratch, upstream, scenario));
      return {
        command: settings.nginx,
        args: ['-p', scratch, '-e', path.join(scratch, 'error.log'), '-c', conf],
      };
    },
  },
  {
    name: 'haproxy',
    groundwork: false,
    scenarios: BOTH,
    description:
      '`/usr/sbin/haproxy -db`, one process with `nbthread 1`, `balance roundrobin` over the three ports, server connections kept alive and shared (`http-reuse always`), `option forwardfor`, path prefix stripped with `http-request set-path`, no logging.',
    policies: `a \`stick-table type ip … store http_req_rate(${RATE_WINDOW_MS / 1_000}s)\` tracked per source IP (\`track-sc0 src\`) with \`http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${RATE_LIMIT} }\`, and \`http-request set-header ${TRANSFORM_HEADER} ${TRANSFORM_VALUE}\`.`,
    options: (port, scratch, upstream, scenario) => {
      const conf = path.join(scratch, 'haproxy.cfg');
      writeFileSync(conf, haproxyConfig(port, upstream, scenario));
      return { command: settings.haproxy, args: ['-db', '-f', conf] };
    },
  },
  {
    name: 'fastify-reply-from',
    groundwork: false,
    scenarios: BOTH,
    description:
      "fastify 5 + @fastify/reply-from (`bench/peers/edge-proxy/fastify-reply-from.mjs`), route `GET /up/*`, the three ports as reply-from's `base` list (undici `BalancedPool`: round robin that skips failing targets), 256 connections per target, logging off.",
    policies: `@fastify/rate-limit (in-memory store, per client IP, max ${formatInt(RATE_LIMIT)} per minute, its \`x-ratelimit-*\` headers on) and the header set through reply-from's \`rewriteRequestHeaders\`.`,
    rateLimitHeader: 'x-ratelimit-limit',
    options: nodePeer('fastify-reply-from.mjs'),
  },
  {
    name: 'http-proxy',
    groundwork: false,
    scenarios: BOTH,
    description:
      'http-proxy 1.18 in a plain `node:http` server (`bench/peers/edge-proxy/http-proxy.mjs`), prefix test and strip, round robin by a counter, keep-alive agent (256 sockets), `xfwd: true` (X-Forwarded-* added).',
    policies:
      "http-proxy has no rate limiter: a hand-written fixed-window counter per client IP (one clock read, one map lookup per request), and the header through http-proxy's `headers` option.",
    options: nodePeer('http-proxy.mjs'),
  },
  {
    name: 'undici-minimal',
    groundwork: false,
    scenarios: BOTH,
    description:
      'the minimal undici proxy (`bench/peers/edge-proxy/undici-minimal.mjs`, the undici Groundwork runs): plain `node:http`, one `Pool` per target (256 connections), `pool.stream()` into the response, prefix test and strip, round robin by a counter; headers passed as they are (no forwarding headers), no timeouts, retries, health or metrics.',
    policies:
      'the same hand-written fixed-window counter per client IP as http-proxy, and the header added to a copy of the request headers.',
    options: nodePeer('undici-minimal.mjs'),
  },
  {
    name: 'groundwork-edge',
    groundwork: true,
    scenarios: BOTH,
    description:
      'an edge-only Groundwork node (`node bin/groundwork.js start`, `edge.serveApi: false`, log level `warn`: no access-log line), route `prefix: "/up", stripPrefix: true` behind the gateway (Fastify route, request id, default policies: security headers on), balancer `round-robin` over the three targets, outlier detection, circuit breaker and retry budget on (the defaults).',
    policies: `the gateway's rate limit (\`gateway.rateLimit\`: in-memory sliding-window counter keyed by client IP, ${formatInt(RATE_LIMIT)} per minute, \`RateLimit\`/\`RateLimit-Policy\` headers) and the route's \`transform: { request: { set: { "${TRANSFORM_HEADER}": "${TRANSFORM_VALUE}" } } }\`.`,
    rateLimitHeader: 'ratelimit-policy',
    options: groundwork(false),
  },
  {
    name: 'groundwork-edge-raw',
    groundwork: true,
    scenarios: ['routing'],
    description:
      "the same node and route with `bypassGateway: true`: served from the server's request event before Fastify (no gateway policies, request id or security headers); everything of the proxy itself is the same. Routing scenario only (a rate limit is a gateway policy).",
    options: groundwork(true),
  },
];

/**
 * CPU time of a process and all its descendants, in ms: nginx does its work in a worker forked by
 * the master whose PID we hold.
 */
function treeCpuMs(pid: number): number | undefined {
  const own = processCpuMs(pid);
  if (own === undefined) return undefined;
  let total = own;
  for (const child of childPids(pid)) total += treeCpuMs(child) ?? 0;
  return total;
}

function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter((p) => p !== '')
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** One GET over a fresh connection (no keep-alive socket of ours outlives it). */
function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, timeout: 5_000 }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
        response.on('error', reject);
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error(`${url}: no answer in 5 s`));
      })
      .on('error', reject);
  });
}

/**
 * Fails unless the proxy does what the scenario says: six requests reach all upstream ports (round
 * robin over the three targets), and with policies the upstream receives the header and the
 * proxy's rate-limit headers (where it sends any) are on the response.
 */
async function verify(target: Target, scenario: Scenario, port: number, upstream: Upstream): Promise<void> {
  const base = `http://127.0.0.1:${port}${PREFIX}`;
  const seen = new Set<string>();
  for (let i = 0; i < 2 * UPSTREAM_PORTS; i++) {
    const response = await get(`${base}/bench-port`);
    if (response.status !== 200) throw new Error(`${target.name}: /bench-port answered ${response.status}`);
    seen.add(response.body.trim());
  }
  const expected = upstream.ports.map(String);
  if (!expected.every((p) => seen.has(p))) {
    throw new Error(
      `${target.name}: round robin reached ports ${[...seen].join(', ')} of ${expected.join(', ')}`,
    );
  }
  if (scenario !== 'policies') return;
  const echoed = await get(`${base}/bench-header`);
  if (echoed.status !== 200 || echoed.body.trim() !== TRANSFORM_VALUE) {
    throw new Error(
      `${target.name}: the upstream did not get ${TRANSFORM_HEADER} (${echoed.status} "${echoed.body}")`,
    );
  }
  if (target.rateLimitHeader !== undefined && echoed.headers[target.rateLimitHeader] === undefined) {
    throw new Error(`${target.name}: no ${target.rateLimitHeader} header: is its rate limit on?`);
  }
}

interface Measurement {
  target: string;
  scenario: Scenario;
  round: number;
  wrk: Omit<WrkResult, 'raw'>;
  /** Proxy CPU (user + system, its worker processes included) per request in the measured window, in µs. */
  serverCpuUsPerRequest: number | undefined;
  /** The upstream's CPU per request in the same window, in µs. */
  upstreamCpuUsPerRequest: number | undefined;
  /** Cores' worth of CPU the proxy used during the window. */
  serverCores: number | undefined;
  machineBusy: number | undefined;
}

async function measure(
  target: Target,
  scenario: Scenario,
  round: number,
  scratchRoot: string,
  upstream: Upstream,
): Promise<Measurement> {
  const direct = target.name === 'direct';
  const requestPath = direct ? UPSTREAM_PATH : `${PREFIX}${UPSTREAM_PATH}`;
  const started = direct
    ? undefined
    : await startProxy(
        target,
        scenario,
        path.join(scratchRoot, `${target.name}-${scenario}-r${round}`),
        upstream,
      );
  const proxy = started?.server;
  const port = started?.port ?? upstream.ports[0]!;
  try {
    if (!direct) await verify(target, scenario, port, upstream);
    const measured = proxy ?? upstream.server;
    const url = `http://127.0.0.1:${port}${requestPath}`;
    const load = { url, threads: settings.threads, connections: settings.connections };
    await runWrk({ ...load, durationS: settings.warmupS });
    const cpuBefore = treeCpuMs(measured.pid);
    const upstreamBefore = treeCpuMs(upstream.server.pid);
    const wallBefore = performance.now();
    const sysBefore = systemCpuSample();
    const { raw: _raw, ...wrk } = await runWrk({ ...load, durationS: settings.durationS });
    const cpuAfter = treeCpuMs(measured.pid);
    const upstreamAfter = treeCpuMs(upstream.server.pid);
    const wallMs = performance.now() - wallBefore;
    const machineBusy = busyShare(sysBefore, systemCpuSample());
    if (wrk.requests === 0) throw new Error(`${target.name}: wrk completed no requests against ${url}`);
    if (wrk.non2xx3xx > 0) {
      throw new Error(`${target.name}: ${wrk.non2xx3xx} responses were not 2xx/3xx; the run measured errors`);
    }
    const perRequest = (before: number | undefined, after: number | undefined) =>
      before !== undefined && after !== undefined ? ((after - before) * 1_000) / wrk.requests : undefined;
    return {
      target: target.name,
      scenario,
      round,
      wrk,
      serverCpuUsPerRequest: direct ? undefined : perRequest(cpuBefore, cpuAfter),
      upstreamCpuUsPerRequest: perRequest(upstreamBefore, upstreamAfter),
      serverCores:
        cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) / wallMs : undefined,
      machineBusy,
    };
  } finally {
    if (proxy) {
      const exit = await proxy.stop();
      if (exit.killed) console.warn(`  ${target.name} ignored SIGTERM and was killed`);
    }
  }
}

async function startProxy(
  target: Target,
  scenario: Scenario,
  scratch: string,
  upstream: Upstream,
): Promise<{ server: ServerProcess; port: number }> {
  mkdirSync(scratch, { recursive: true });
  return startServerOnFreePort((p) => ({
    name: target.name,
    readyUrl: `http://127.0.0.1:${p}${PREFIX}${UPSTREAM_PATH}`,
    stdout: 'ignore',
    ...target.options(p, scratch, upstream, scenario),
  }));
}

/** BENCH_CHECK_ONLY: start the proxy, run `verify`, stop it. */
async function check(
  target: Target,
  scenario: Scenario,
  scratchRoot: string,
  upstream: Upstream,
): Promise<void> {
  if (target.name === 'direct') return;
  const { server, port } = await startProxy(
    target,
    scenario,
    path.join(scratchRoot, `${target.name}-${scenario}-check`),
    upstream,
  );
  try {
    await verify(target, scenario, port, upstream);
  } finally {
    await server.stop();
  }
}

interface Summary {
  target: Target;
  scenario: Scenario;
  requestsPerSec: number;
  p50: number;
  p99: number;
  serverCpuUsPerRequest: number | undefined;
  upstreamCpuUsPerRequest: number | undefined;
  perRound: readonly number[];
  socketErrors: number;
}

function summarise(target: Target, scenario: Scenario, all: readonly Measurement[]): Summary {
  const runs = all
    .filter((m) => m.target === target.name && m.scenario === scenario)
    .sort((a, b) => a.round - b.round);
  const med = (values: (number | undefined)[]) => {
    const defined = values.filter((v): v is number => v !== undefined);
    return defined.length > 0 ? median(defined) : undefined;
  };
  return {
    target,
    scenario,
    requestsPerSec: median(runs.map((m) => m.wrk.requestsPerSec)),
    p50: median(runs.map((m) => m.wrk.latencyMs.p50)),
    p99: median(runs.map((m) => m.wrk.latencyMs.p99)),
    serverCpuUsPerRequest: med(runs.map((m) => m.serverCpuUsPerRequest)),
    upstreamCpuUsPerRequest: med(runs.map((m) => m.upstreamCpuUsPerRequest)),
    perRound: runs.map((m) => m.wrk.requestsPerSec),
    socketErrors: runs.reduce(
      (sum, m) => sum + Object.values(m.wrk.socketErrors).reduce((a, b) => a + b, 0),
      0,
    ),
  };
}

const cpuText = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(1));

/** The command as typed, with any BENCH_* overrides in front. */
function commandLine(): string {
  const overrides = Object.entries(process.env)
    .filter(([key, value]) => key.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([key, value]) => `${key}=${value}`)
    .sort();
  return [...overrides, `npx tsx bench/${NAME}.ts`].join(' ');
}

/** Installed versions of the Node peers (from their lockfile), running `npm ci` there first if needed. */
function ensurePeersInstalled(): Record<string, string> {
  const lock = JSON.parse(readFileSync(path.join(peersDir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const wanted = Object.fromEntries(
    PEER_PACKAGES.map((name) => {
      const version = lock.packages[`node_modules/${name}`]?.version;
      if (version === undefined) throw new Error(`bench/peers/edge-proxy/package-lock.json has no ${name}`);
      return [name, version];
    }),
  );
  const installed = (name: string) => {
    const file = path.join(peersDir, 'node_modules', name, 'package.json');
    return existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
      : undefined;
  };
  if (PEER_PACKAGES.some((name) => installed(name) !== wanted[name])) {
    console.log('installing the Node peers into bench/peers/edge-proxy (npm ci)');
    const run = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: peersDir, stdio: 'inherit' });
    if (run.status !== 0 || PEER_PACKAGES.some((name) => installed(name) !== wanted[name])) {
      throw new Error('npm ci in bench/peers/edge-proxy failed');
    }
  }
  return wanted;
}

/** The upstream nginx on three free ports (below the ephemeral range), retried on a bind failure. */
async function startUpstream(scratchRoot: string): Promise<Upstream> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const ports: number[] = [];
    while (ports.length < UPSTREAM_PORTS) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const scratch = path.join(scratchRoot, `upstream-${attempt}`);
    mkdirSync(scratch, { recursive: true });
    const conf = path.join(scratch, 'nginx.conf');
    writeFileSync(conf, upstreamNginxConfig(ports, scratch));
    try {
      const server = await startServer({
        name: 'upstream',
        command: settings.nginx,
        args: ['-p', scratch, '-e', path.join(scratch, 'error.log'), '-c', conf],
        readyUrl: `http://127.0.0.1:${ports[ports.length - 1]}${UPSTREAM_PATH}`,
      });
      return { server, ports, urls: ports.map((p) => `http://127.0.0.1:${p}`) };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

function binaryVersion(command: string, args: readonly string[], pattern: RegExp): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return pattern.exec(`${run.stdout}${run.stderr}`)?.[1] ?? 'unknown';
}

/** What a run's report says besides its measurements (also saved in docs/benchmarks/edge-proxy.json). */
interface RunInfo {
  startedAt: Date;
  command: string;
  revision: string;
  machine: MachineInfo;
  settings: typeof settings;
  versions: Record<string, string>;
}

function report(run: RunInfo, summaries: readonly Summary[], measurements: readonly Measurement[]): void {
  const { machine, revision, settings, startedAt, versions } = run;
  const of = (scenario: Scenario, name: string) =>
    summaries.find((s) => s.scenario === scenario && s.target.name === name)!;
  const direct = of('routing', 'direct').requestsPerSec;
  const headers = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'vs direct',
    'vs nginx',
    'vs undici-minimal',
    'vs fastify-reply-from',
    'proxy CPU µs/req',
    'upstream CPU µs/req',
  ];
  const align = ['left', ...Array(headers.length - 1).fill('right')] as ('left' | 'right')[];
  const rowsOf = (scenario: Scenario) => {
    const rps = (name: string) => of(scenario, name).requestsPerSec;
    return summaries
      .filter((s) => s.scenario === scenario)
      .map((s) => [
        s.target.name,
        formatInt(s.requestsPerSec),
        formatMs(s.p50),
        formatMs(s.p99),
        formatRatio(s.requestsPerSec / direct),
        formatRatio(s.requestsPerSec / rps('nginx')),
        formatRatio(s.requestsPerSec / rps('undici-minimal')),
        formatRatio(s.requestsPerSec / rps('fastify-reply-from')),
        s.target.name === 'direct' ? '(none)' : cpuText(s.serverCpuUsPerRequest),
        cpuText(s.upstreamCpuUsPerRequest),
      ]);
  };
  const wrkArgs = `wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency`;
  for (const scenario of SCENARIOS) {
    console.log(`\n${SCENARIO_TITLES[scenario]}\n${textTable(headers, rowsOf(scenario), align)}`);
  }

  const date = startedAt.toISOString().slice(0, 10);
  const chartFile = (scenario: Scenario) => (scenario === 'routing' ? `${NAME}.svg` : `${NAME}-policies.svg`);
  for (const scenario of SCENARIOS) {
    writeBenchmarkAsset(
      chartFile(scenario),
      barChartSvg({
        title: `GET through a reverse proxy, ${SCENARIO_TITLES[scenario]}: requests/s (median of ${settings.rounds})`,
        subtitle: `${wrkArgs}, ${date}, ${machine.cores} cores, Node ${machine.node}`,
        bars: summaries
          .filter((s) => s.scenario === scenario || (scenario === 'policies' && s.target.name === 'direct'))
          .map((s) => ({ label: s.target.name, value: s.requestsPerSec, highlight: s.target.groundwork })),
      }),
    );
  }
  writeBenchmarkAsset(`${NAME}.json`, `${JSON.stringify({ ...run, measurements }, null, 2)}\n`);

  const ratio = (scenario: Scenario, a: string, b: string) =>
    of(scenario, a).requestsPerSec / of(scenario, b).requestsPerSec;
  const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const busy = measurements.flatMap((m) => (m.machineBusy === undefined ? [] : [m.machineBusy]));
  const cores = measurements
    .filter((m) => m.target !== 'direct')
    .flatMap((m) => (m.serverCores === undefined ? [] : [m.serverCores]));
  const errors = summaries.filter((s) => s.socketErrors > 0);
  const label = (s: Summary) => `${s.target.name}${s.scenario === 'policies' ? ' (b)' : ''}`;
  const spread = (s: Summary) =>
    s.perRound.length > 1 ? (Math.max(...s.perRound) - Math.min(...s.perRound)) / s.requestsPerSec : 0;
  const noisy = summaries.filter((s) => spread(s) > 0.25);
  const gw = of('routing', 'groundwork-edge');
  const raw = of('routing', 'groundwork-edge-raw');
  const gwPolicies = of('policies', 'groundwork-edge');
  const cpuDelta = (a: Summary, b: Summary) =>
    a.serverCpuUsPerRequest !== undefined && b.serverCpuUsPerRequest !== undefined
      ? `${(a.serverCpuUsPerRequest - b.serverCpuUsPerRequest).toFixed(1)} µs`
      : 'n/a';
  const targetLines = targets.map(
    (t) => `- \`${t.name}\`: ${t.description}${t.policies ? ` **Policies:** ${t.policies}` : ''}`,
  );
  const tableFor = (scenario: Scenario) => markdownTable(headers, rowsOf(scenario), align);
  const body = `## Edge proxy: \`GET ${PREFIX}${UPSTREAM_PATH}\` through a reverse proxy

Groundwork's edge (issue 7) against nginx, HAProxy, fastify + @fastify/reply-from, http-proxy and
a minimal undici proxy, all forwarding to the same upstream, and against that upstream without a
proxy, in one run; once with routing + round robin, once with routing + rate limit + one header
transform.

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${revision}\` (\`dist/\` build)
- **Command:** \`${run.command}\` from the repository root (builds \`dist/\` first; installs the Node peers into \`bench/peers/edge-proxy\` with \`npm ci\` on first use)
- **Machine:** ${formatMachine(machine)}
- **Versions:** nginx ${versions.nginx}, HAProxy ${versions.haproxy}, fastify ${versions.fastify}, @fastify/reply-from ${versions['@fastify/reply-from']}, @fastify/rate-limit ${versions['@fastify/rate-limit']}, http-proxy ${versions['http-proxy']}, undici ${versions.undici} (Groundwork's and the minimal proxy's)
- **Load:** \`${wrkArgs} http://127.0.0.1:PORT/PATH\` per target after a ${settings.warmupS} s warm-up at the same settings. ${settings.rounds} round(s), every (scenario, target) pair interleaved with the order rotated each round; each figure is the median over rounds. The upstream is one nginx process (one worker, access log off) answering \`GET ${UPSTREAM_PATH}\` with a static \`${UPSTREAM_BODY}\` on ${UPSTREAM_PORTS} ports; every proxy balances round robin over those three targets; it runs for the whole benchmark. Each proxy is one process (one worker, one thread) started for its measurement, checked (six requests reach all three ports; with policies the upstream sees the header), measured, and stopped by PID. wrk, the proxy and the upstream share the machine's ${machine.cores} cores.${busy.length > 0 ? ` All cores were ${pct(Math.min(...busy))}–${pct(Math.max(...busy))} busy during the measured windows.` : ''}

### ${SCENARIO_TITLES.routing}

${tableFor('routing')}

![Edge proxy requests/s, routing + round robin](benchmarks/${chartFile('routing')})

### ${SCENARIO_TITLES.policies}

Every proxy also limits requests per client IP (a limit of ${formatInt(RATE_LIMIT)} per minute, never reached: the cost of the check is measured, not refusals) and sets \`${TRANSFORM_HEADER}: ${TRANSFORM_VALUE}\` on the request upstream. "vs direct" divides by the direct figure of scenario (a).

${tableFor('policies')}

![Edge proxy requests/s, routing + rate limit + header transform](benchmarks/${chartFile('policies')})

"vs" columns are req/s ratios within the scenario. req/s per round: ${summaries
    .map((s) => `${label(s)} ${s.perRound.map(formatInt).join(' / ')}`)
    .join('; ')}.${
    errors.length > 0
      ? ` **Socket errors** during the run: ${errors.map((s) => `${s.target.name} (${s.scenario}) ${s.socketErrors}`).join(', ')}.`
      : ' No socket errors, every response 200.'
  }${
    noisy.length > 0
      ? ` **Rounds disagree** by more than 25% of the median for ${noisy.map((s) => `${label(s)} (${pct(spread(s))})`).join(', ')}: other work shared the machine (see the load average), so read those req/s ratios as rough and lean on the CPU µs/req column.`
      : ''
  }

Targets:
${targetLines.join('\n')}

**Issue 7's targets** (scenario a, routing on):

- Groundwork edge ≥ 1.3× fastify + reply-from: ${verdict(gw.requestsPerSec >= 1.3 * of('routing', 'fastify-reply-from').requestsPerSec)} behind the gateway (${formatRatio(ratio('routing', 'groundwork-edge', 'fastify-reply-from'))}), ${verdict(raw.requestsPerSec >= 1.3 * of('routing', 'fastify-reply-from').requestsPerSec)} with \`bypassGateway\` (${formatRatio(ratio('routing', 'groundwork-edge-raw', 'fastify-reply-from'))}). With policies (b): ${formatRatio(ratio('policies', 'groundwork-edge', 'fastify-reply-from'))}.
- Groundwork edge ≥ the minimal undici proxy: ${verdict(gw.requestsPerSec >= of('routing', 'undici-minimal').requestsPerSec)} behind the gateway (${formatRatio(ratio('routing', 'groundwork-edge', 'undici-minimal'))}), ${verdict(raw.requestsPerSec >= of('routing', 'undici-minimal').requestsPerSec)} with \`bypassGateway\` (${formatRatio(ratio('routing', 'groundwork-edge-raw', 'undici-minimal'))}). With policies (b): ${formatRatio(ratio('policies', 'groundwork-edge', 'undici-minimal'))}.
- Ratio to nginx, reported (the long-term goal is ≥ 0.5× at equal worker count): ${formatRatio(ratio('routing', 'groundwork-edge', 'nginx'))} behind the gateway (${verdict(gw.requestsPerSec >= 0.5 * of('routing', 'nginx').requestsPerSec)}), ${formatRatio(ratio('routing', 'groundwork-edge-raw', 'nginx'))} with \`bypassGateway\` (${verdict(raw.requestsPerSec >= 0.5 * of('routing', 'nginx').requestsPerSec)}); ${formatRatio(ratio('policies', 'groundwork-edge', 'nginx'))} with policies (b). HAProxy: ${formatRatio(ratio('routing', 'groundwork-edge', 'haproxy'))} (a), ${formatRatio(ratio('policies', 'groundwork-edge', 'haproxy'))} (b).

**What the ratios mean.**

- The gateway route costs ${cpuDelta(gw, raw)} of proxy CPU per request over the raw handler (${cpuText(gw.serverCpuUsPerRequest)} vs ${cpuText(raw.serverCpuUsPerRequest)} µs): Fastify's routing and request/reply objects, the request-context hook (request id, trace context, a child logger), the gateway's hooks, the security headers and the latency histogram. The rate limit and the header transform add ${cpuDelta(gwPolicies, gw)} more (${cpuText(gwPolicies.serverCpuUsPerRequest)} µs in scenario b).
- "proxy CPU µs/req" is the proxy process's CPU time (user + system, nginx's worker included) over the measured window divided by the requests served; it does not depend on how much CPU wrk or the upstream took, so it is the steadier measure of each proxy's own cost on a small, shared machine. The upstream column shows the same upstream doing the same work behind every proxy.
- ${cores.length > 0 ? `Proxies used ${Math.min(...cores).toFixed(2)}–${Math.max(...cores).toFixed(2)} cores during the measured windows. ` : ''}With three processes (wrk, proxy, upstream) on ${machine.cores} cores, every proxied target competes with the upstream for CPU, so req/s ratios to \`direct\` understate what a proxy on its own core would do; ratios between proxies are fair (same upstream, same load).
- The policies are as close as each proxy allows, not identical: nginx's \`limit_req\` is a leaky bucket in shared memory, HAProxy's a stick-table rate counter, fastify's and Groundwork's plugins keep a counter per key in memory and send rate-limit headers, http-proxy and the minimal undici proxy get a hand-written fixed-window counter (the least a limiter can cost).
- p50/p99 are measured with ${settings.connections} connections at saturation, so they are mostly queueing and move with req/s.
- Absolute numbers vary ±20% between runs on this machine: compare by ratio, measured in the same run.
`;
  writeBenchmarkSection(NAME, body);
  console.log(
    `wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${chartFile('routing')}, docs/benchmarks/${chartFile('policies')}, docs/benchmarks/${NAME}.json`,
  );
}

const plan = SCENARIOS.flatMap((scenario) =>
  targets.filter((t) => t.scenarios.includes(scenario)).map((target) => ({ scenario, target })),
);

/** BENCH_REPORT_FROM: the report of a saved run (its JSON), re-rendered with this script's text. */
function reportFrom(file: string): void {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Omit<RunInfo, 'startedAt'> & {
    startedAt: string;
    measurements: Measurement[];
  };
  const { measurements, ...run } = saved;
  report(
    { ...run, startedAt: new Date(run.startedAt) },
    plan.map(({ scenario, target }) => summarise(target, scenario, measurements)),
    measurements,
  );
}

async function main(): Promise<void> {
  const from = process.env.BENCH_REPORT_FROM?.trim();
  if (from) {
    reportFrom(path.resolve(from));
    return;
  }
  wrkBinary(); // fail before building anything if the load generator is missing
  for (const [name, binary] of [
    ['nginx', settings.nginx],
    ['haproxy', settings.haproxy],
  ] as const) {
    try {
      accessSync(binary, constants.X_OK);
    } catch {
      throw new Error(`${name} not found at ${binary}: install it with \`apt-get install -y ${name}\``);
    }
  }
  const packages = ensurePeersInstalled();
  const undiciVersion = (
    JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', 'undici', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const versions = {
    ...packages,
    undici: undiciVersion,
    nginx: binaryVersion(settings.nginx, ['-v'], /nginx\/(\S+)/),
    haproxy: binaryVersion(settings.haproxy, ['-v'], /version (\S+)/),
  };
  buildDist();
  const machine = machineInfo();
  const startedAt = new Date();
  const scratchRoot = path.join(benchTmpRoot, `${NAME}-${process.pid}`);
  mkdirSync(scratchRoot, { recursive: true });
  const measurements: Measurement[] = [];
  console.log(
    `${NAME}: ${plan.length} (scenario, target) pairs × ${settings.rounds} round(s), wrk -t${settings.threads} ` +
      `-c${settings.connections} -d${settings.durationS}s after ${settings.warmupS} s warm-up`,
  );
  const upstream = await startUpstream(scratchRoot);
  try {
    if (settings.checkOnly) {
      for (const { scenario, target } of plan) {
        await check(target, scenario, scratchRoot, upstream);
        console.log(`  ${scenario.padEnd(8)} ${target.name.padEnd(20)} ok`);
      }
      return;
    }
    for (let round = 1; round <= settings.rounds; round++) {
      const shift = ((round - 1) * Math.ceil(plan.length / settings.rounds)) % plan.length;
      for (const { scenario, target } of [...plan.slice(shift), ...plan.slice(0, shift)]) {
        const m = await measure(target, scenario, round, scratchRoot, upstream);
        measurements.push(m);
        console.log(
          `  round ${round}/${settings.rounds} ${scenario.padEnd(8)} ${target.name.padEnd(20)} ${formatInt(m.wrk.requestsPerSec).padStart(7)} req/s` +
            `  p50 ${formatMs(m.wrk.latencyMs.p50)} ms  p99 ${formatMs(m.wrk.latencyMs.p99)} ms` +
            `  proxy ${cpuText(m.serverCpuUsPerRequest)} µs CPU/req  upstream ${cpuText(m.upstreamCpuUsPerRequest)} µs CPU/req` +
            (m.machineBusy === undefined ? '' : `  machine ${Math.round(m.machineBusy * 100)}% busy`),
        );
      }
    }
  } finally {
    await upstream.server.stop();
    rmSync(scratchRoot, { recursive: true, force: true });
    try {
      rmdirSync(benchTmpRoot); // only when no other benchmark's scratch dir is in it
    } catch {
      // not empty: another run is using it
    }
  }
  report(
    { startedAt, command: commandLine(), revision: gitRevision(), machine, settings, versions },
    plan.map(({ scenario, target }) => summarise(target, scenario, measurements)),
    measurements,
  );
}

await main();
