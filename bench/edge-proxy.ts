/**
 * Edge proxy: requests/s and latency of one small GET through Groundwork's reverse proxy, against
 * nginx proxying to the same upstream (keep-alive pool), a minimal undici `stream()` proxy, and the
 * upstream itself without any proxy, all measured in one run. Results go to the `edge-proxy`
 * section of docs/benchmarks.md.
 *
 *   npx tsx bench/edge-proxy.ts            (npm run bench:edge-proxy)
 *
 * One upstream (`bench/servers/node-http.mjs`, `GET /healthz` → a small JSON body) runs for the
 * whole benchmark; each proxy is started per round, measured, and stopped by PID. Groundwork runs as
 * an edge-only node (`edge.serveApi: false`) from `dist/`, with one route that strips the prefix
 * `/up` (routing on), through the gateway (`groundwork-edge`) and once more with `bypassGateway`
 * (`groundwork-edge-raw`), which answers from the server's request event before Fastify: the
 * difference is what the gateway route (Fastify, request context, policies) costs per request.
 * nginx (`/usr/sbin/nginx`, one worker, keep-alive to the upstream, access log off) gets a config
 * written to the scratch directory and strips the same prefix.
 *
 * Environment: BENCH_DURATION_S (10), BENCH_CONNECTIONS (64), BENCH_THREADS (1, wrk threads),
 * BENCH_WARMUP_S (2), BENCH_ROUNDS (2), BENCH_NGINX (path of nginx, default /usr/sbin/nginx).
 */
import {
  accessSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { buildDist } from './lib/build.js';
import { formatInt, formatMs, formatRatio, markdownTable, textTable } from './lib/format.js';
import { formatMachine, gitRevision, machineInfo } from './lib/machine.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { busyShare, processCpuMs, systemCpuSample } from './lib/proc-cpu.js';
import { type ServerProcess, type StartServerOptions, startServerOnFreePort } from './lib/server-process.js';
import { median, positiveIntFromEnv } from './lib/stats.js';
import { runWrk, type WrkResult, wrkBinary } from './lib/wrk.js';

const NAME = 'edge-proxy';
const UPSTREAM_PATH = '/healthz';
/** The prefix the proxies route on and strip: `/up/healthz` → upstream `/healthz`. */
const PREFIX = '/up';

const settings = {
  durationS: positiveIntFromEnv('BENCH_DURATION_S', 10),
  connections: positiveIntFromEnv('BENCH_CONNECTIONS', 64),
  threads: positiveIntFromEnv('BENCH_THREADS', 1),
  warmupS: positiveIntFromEnv('BENCH_WARMUP_S', 2),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 2),
  nginx: process.env.BENCH_NGINX?.trim() || '/usr/sbin/nginx',
};

/**
 * Every Node target is started the same way (`node FILE`, no tsx loader, no NODE_OPTIONS, no
 * GROUNDWORK_* variables), so the only difference is the code that answers.
 */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_')),
);
const groundworkBin = path.join(repoRoot, 'bin', 'groundwork.js');

interface Target {
  name: string;
  /** Groundwork itself (highlighted in the chart), as opposed to a peer. */
  groundwork: boolean;
  description: string;
  /** Path wrk requests on this target. */
  path: string;
  options(port: number, scratch: string, upstreamUrl: string): Omit<StartServerOptions, 'name' | 'readyUrl'>;
}

function groundwork(bypassGateway: boolean) {
  return (port: number, scratch: string, upstreamUrl: string) => {
    const dataDir = path.join(scratch, 'data');
    mkdirSync(dataDir, { recursive: true });
    const config = {
      edge: {
        serveApi: false,
        groups: { upstream: { targets: [{ url: upstreamUrl }] } },
        routes: [{ prefix: PREFIX, stripPrefix: true, group: 'upstream', access: 'public', bypassGateway }],
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

/** A minimal undici proxy: the floor for a Node proxy on the same HTTP client as Groundwork's edge. */
const UNDICI_PROXY = `// Written by bench/edge-proxy.ts: the minimal undici stream() proxy, no routing, no header rewriting.
import http from 'node:http';
import { createRequire } from 'node:module';
const { Pool } = createRequire(${JSON.stringify(path.join(repoRoot, 'package.json'))})('undici');
const [port, upstream] = process.argv.slice(2);
const pool = new Pool(upstream, { connections: 256, pipelining: 1 });
http
  .createServer((req, res) => {
    pool.stream(
      { path: req.url, method: req.method, headers: req.headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
      ({ statusCode, headers }) => {
        delete headers.connection;
        delete headers['keep-alive'];
        delete headers['transfer-encoding'];
        res.writeHead(statusCode, headers);
        return res;
      },
      (err) => {
        if (err && !res.headersSent) res.writeHead(502).end();
        else if (err) res.destroy();
      },
    );
  })
  .listen(Number(port), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
`;

function nginxConfig(port: number, scratch: string, upstreamUrl: string): string {
  const upstream = new URL(upstreamUrl).host;
  const dir = (name: string) => path.join(scratch, name);
  return `# Written by bench/edge-proxy.ts
daemon off;
worker_processes 1;
pid ${dir('nginx.pid')};
error_log ${dir('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir('client_body')};
  proxy_temp_path ${dir('proxy')};
  fastcgi_temp_path ${dir('fastcgi')};
  uwsgi_temp_path ${dir('uwsgi')};
  scgi_temp_path ${dir('scgi')};
  keepalive_requests 1000000;
  upstream backend {
    server ${upstream};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location ${PREFIX}/ {
      proxy_pass http://backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`;
}

const targets: readonly Target[] = [
  {
    name: 'direct',
    groundwork: false,
    description:
      'the upstream itself, no proxy (`bench/servers/node-http.mjs`, the one every proxy forwards to).',
    path: UPSTREAM_PATH,
    options: () => {
      throw new Error('the upstream is started once for the whole run');
    },
  },
  {
    name: 'nginx',
    groundwork: false,
    description:
      '`/usr/sbin/nginx`, one worker, `proxy_pass` to an `upstream` block with `keepalive 64` (HTTP/1.1), `X-Forwarded-For`/`-Proto` and `Host` set, prefix stripped, access log off.',
    path: `${PREFIX}${UPSTREAM_PATH}`,
    options: (port, scratch, upstreamUrl) => {
      for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
        mkdirSync(path.join(scratch, sub), { recursive: true });
      }
      const conf = path.join(scratch, 'nginx.conf');
      writeFileSync(conf, nginxConfig(port, scratch, upstreamUrl));
      return {
        command: settings.nginx,
        args: ['-p', scratch, '-e', path.join(scratch, 'error.log'), '-c', conf],
      };
    },
  },
  {
    name: 'undici-minimal',
    groundwork: false,
    description:
      'a minimal undici `Pool.stream()` proxy in plain `node:http` (written to the scratch dir): no routing, headers passed as they are, no timeouts, retries or metrics.',
    path: UPSTREAM_PATH,
    options: (port, scratch, upstreamUrl) => {
      const file = path.join(scratch, 'undici-proxy.mjs');
      writeFileSync(file, UNDICI_PROXY);
      return { command: process.execPath, args: [file, String(port), upstreamUrl], env: childEnv };
    },
  },
  {
    name: 'groundwork-edge',
    groundwork: true,
    description:
      'an edge-only Groundwork node (`node bin/groundwork.js start`, `edge.serveApi: false`, log level `warn`: no access-log line), route `prefix: "/up", stripPrefix: true` behind the gateway (Fastify route, request id, default policies: security headers on), weighted round robin over one target, outlier detection, circuit breaker and retry budget on (the defaults).',
    path: `${PREFIX}${UPSTREAM_PATH}`,
    options: groundwork(false),
  },
  {
    name: 'groundwork-edge-raw',
    groundwork: true,
    description:
      "the same node and route with `bypassGateway: true`: served from the server's request event before Fastify (no gateway policies, request id or security headers); everything of the proxy itself is the same.",
    path: `${PREFIX}${UPSTREAM_PATH}`,
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

interface Measurement {
  target: string;
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
  round: number,
  scratchRoot: string,
  upstream: { server: ServerProcess; port: number },
): Promise<Measurement> {
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  let proxy: ServerProcess | undefined;
  let port = upstream.port;
  if (target.name !== 'direct') {
    const scratch = path.join(scratchRoot, `${target.name}-r${round}`);
    mkdirSync(scratch, { recursive: true });
    const started = await startServerOnFreePort((p) => ({
      name: target.name,
      readyUrl: `http://127.0.0.1:${p}${target.path}`,
      stdout: 'ignore',
      ...target.options(p, scratch, upstreamUrl),
    }));
    proxy = started.server;
    port = started.port;
  }
  try {
    const measured = proxy ?? upstream.server;
    const url = `http://127.0.0.1:${port}${target.path}`;
    const load = { url, threads: settings.threads, connections: settings.connections };
    await runWrk({ ...load, durationS: settings.warmupS });
    const cpuBefore = treeCpuMs(measured.pid);
    const upstreamBefore = processCpuMs(upstream.server.pid);
    const wallBefore = performance.now();
    const sysBefore = systemCpuSample();
    const { raw: _raw, ...wrk } = await runWrk({ ...load, durationS: settings.durationS });
    const cpuAfter = treeCpuMs(measured.pid);
    const upstreamAfter = processCpuMs(upstream.server.pid);
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
      round,
      wrk,
      serverCpuUsPerRequest: perRequest(cpuBefore, cpuAfter),
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

interface Summary {
  target: Target;
  requestsPerSec: number;
  p50: number;
  p99: number;
  serverCpuUsPerRequest: number | undefined;
  upstreamCpuUsPerRequest: number | undefined;
  perRound: readonly number[];
  socketErrors: number;
}

function summarise(target: Target, all: readonly Measurement[]): Summary {
  const runs = all.filter((m) => m.target === target.name).sort((a, b) => a.round - b.round);
  const med = (values: (number | undefined)[]) => {
    const defined = values.filter((v): v is number => v !== undefined);
    return defined.length > 0 ? median(defined) : undefined;
  };
  return {
    target,
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
  return [...overrides, 'npx tsx bench/edge-proxy.ts'].join(' ');
}

function report(summaries: readonly Summary[], measurements: readonly Measurement[], startedAt: Date): void {
  const machine = machineInfo();
  const revision = gitRevision();
  const by = new Map(summaries.map((s) => [s.target.name, s]));
  const rps = (name: string) => by.get(name)!.requestsPerSec;
  const direct = rps('direct');
  const nginx = rps('nginx');
  const undici = rps('undici-minimal');
  const headers = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'vs direct',
    'vs nginx',
    'vs undici-minimal',
    'proxy CPU µs/req',
    'upstream CPU µs/req',
  ];
  const align = ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] as const;
  const rows = summaries.map((s) => [
    s.target.name,
    formatInt(s.requestsPerSec),
    formatMs(s.p50),
    formatMs(s.p99),
    formatRatio(s.requestsPerSec / direct),
    formatRatio(s.requestsPerSec / nginx),
    formatRatio(s.requestsPerSec / undici),
    s.target.name === 'direct' ? '(none)' : cpuText(s.serverCpuUsPerRequest),
    cpuText(s.upstreamCpuUsPerRequest),
  ]);
  const wrkArgs = `wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency`;
  console.log(`\n${textTable(headers, rows, align)}\n`);

  const chartFile = `${NAME}.svg`;
  const date = startedAt.toISOString().slice(0, 10);
  writeBenchmarkAsset(
    chartFile,
    barChartSvg({
      title: `GET through a reverse proxy: requests/s (median of ${settings.rounds}, higher is better)`,
      subtitle: `${wrkArgs}, ${date}, ${machine.cores} cores, Node ${machine.node}`,
      bars: summaries.map((s) => ({
        label: s.target.name,
        value: s.requestsPerSec,
        highlight: s.target.groundwork,
      })),
    }),
  );
  writeBenchmarkAsset(
    `${NAME}.json`,
    `${JSON.stringify({ startedAt, command: commandLine(), revision, machine, settings, measurements }, null, 2)}\n`,
  );

  const gw = by.get('groundwork-edge')!;
  const raw = by.get('groundwork-edge-raw')!;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const busy = measurements.flatMap((m) => (m.machineBusy === undefined ? [] : [m.machineBusy]));
  const cores = measurements
    .filter((m) => m.target !== 'direct')
    .flatMap((m) => (m.serverCores === undefined ? [] : [m.serverCores]));
  const errors = summaries.filter((s) => s.socketErrors > 0);
  const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');
  const gatewayCost =
    gw.serverCpuUsPerRequest !== undefined && raw.serverCpuUsPerRequest !== undefined
      ? gw.serverCpuUsPerRequest - raw.serverCpuUsPerRequest
      : undefined;
  const body = `## Edge proxy: \`GET ${PREFIX}${UPSTREAM_PATH}\` through a reverse proxy

Groundwork's edge (issue 7) against nginx and a minimal undici proxy, all forwarding to the same
upstream, and against that upstream without a proxy, in one run.

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${revision}\` (\`dist/\` build)
- **Command:** \`${commandLine()}\` from the repository root (builds \`dist/\` first)
- **Machine:** ${formatMachine(machine)}
- **Load:** \`${wrkArgs} http://127.0.0.1:PORT/PATH\` per target after a ${settings.warmupS} s warm-up at the same settings. ${settings.rounds} round(s), targets interleaved with the order rotated each round; each figure is the median over rounds. The upstream (one \`node bench/servers/node-http.mjs\` process, \`GET ${UPSTREAM_PATH}\` → \`{"status":"ok"}\`) runs for the whole benchmark; each proxy is one process started for its measurement and stopped by PID. wrk, the proxy and the upstream share the machine's ${machine.cores} cores.${busy.length > 0 ? ` All cores were ${pct(Math.min(...busy))}–${pct(Math.max(...busy))} busy during the measured windows.` : ''}

${markdownTable(headers, rows, align)}

"vs" columns are req/s ratios. req/s per round: ${summaries
    .map((s) => `${s.target.name} ${s.perRound.map(formatInt).join(' / ')}`)
    .join('; ')}.${
    errors.length > 0
      ? ` **Socket errors** during the run: ${errors.map((s) => `${s.target.name} ${s.socketErrors}`).join(', ')}.`
      : ' No socket errors, every response 200.'
  }

![Edge proxy requests/s per target](benchmarks/${chartFile})

Targets:
${summaries.map((s) => `- \`${s.target.name}\`: ${s.target.description}`).join('\n')}

**What the ratios mean.**

- Groundwork's edge behind the gateway serves ${formatRatio(gw.requestsPerSec / direct)} of the direct upstream's throughput and ${formatRatio(gw.requestsPerSec / nginx)} of nginx's; without the gateway (\`groundwork-edge-raw\`) ${formatRatio(raw.requestsPerSec / direct)} and ${formatRatio(raw.requestsPerSec / nginx)}. nginx itself reaches ${formatRatio(nginx / direct)} of direct.
- Issue 7's target "Groundwork edge ≥ the minimal undici proxy with routing on": ${verdict(gw.requestsPerSec >= undici)} behind the gateway (${formatRatio(gw.requestsPerSec / undici)}), ${verdict(raw.requestsPerSec >= undici)} without it (${formatRatio(raw.requestsPerSec / undici)}). The long-term goal of ≥ 0.5× nginx at equal worker count: ${verdict(gw.requestsPerSec >= 0.5 * nginx)} (${formatRatio(gw.requestsPerSec / nginx)}).
- The gateway route costs ${gatewayCost === undefined ? 'n/a' : `${gatewayCost.toFixed(1)} µs`} of proxy CPU per request over the raw handler (${cpuText(gw.serverCpuUsPerRequest)} vs ${cpuText(raw.serverCpuUsPerRequest)} µs): Fastify's routing and request/reply objects, the request-context hook (request id, trace context, a child logger), the gateway's hooks, the security headers and the latency histogram. That is the price of policies (auth, rate limits, idempotency, CORS) on proxied routes; \`bypassGateway\` is there for public routes that need none of them.
- "proxy CPU µs/req" is the proxy process's CPU time (user + system) over the measured window divided by the requests served; it does not depend on how much CPU wrk or the upstream took, so it is the steadier measure of each proxy's own cost on a small, shared machine. The upstream column shows the same upstream doing the same work behind every proxy.
- ${cores.length > 0 ? `Proxies used ${Math.min(...cores).toFixed(2)}–${Math.max(...cores).toFixed(2)} cores during the measured windows. ` : ''}With three processes (wrk, proxy, upstream) on ${machine.cores} cores, every proxied target competes with the upstream for CPU, so req/s ratios to \`direct\` understate what a proxy on its own core would do; ratios between proxies are fair (same upstream, same load).
- p50/p99 are measured with ${settings.connections} connections at saturation, so they are mostly queueing and move with req/s.
- Not measured here yet (issue 7 lists them): HAProxy (not installed on this machine), fastify + @fastify/reply-from and http-proxy (not dependencies of this repository), several targets with round robin, and a second scenario with rate limit + header transform on.
- Absolute numbers vary ±20% between runs on this machine: compare by ratio, measured in the same run.
`;
  writeBenchmarkSection(NAME, body);
  console.log(
    `wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${chartFile}, docs/benchmarks/${NAME}.json`,
  );
}

async function main(): Promise<void> {
  wrkBinary(); // fail before building anything if the load generator is missing
  accessSync(settings.nginx, constants.X_OK);
  buildDist();
  const startedAt = new Date();
  const scratchRoot = path.join(benchTmpRoot, `${NAME}-${process.pid}`);
  mkdirSync(scratchRoot, { recursive: true });
  const measurements: Measurement[] = [];
  console.log(
    `${NAME}: ${targets.length} targets × ${settings.rounds} round(s), wrk -t${settings.threads} ` +
      `-c${settings.connections} -d${settings.durationS}s after ${settings.warmupS} s warm-up`,
  );
  const upstream = await startServerOnFreePort((p) => ({
    name: 'upstream',
    command: process.execPath,
    args: [path.join(repoRoot, 'bench/servers/node-http.mjs'), '--port', String(p)],
    env: childEnv,
    readyUrl: `http://127.0.0.1:${p}${UPSTREAM_PATH}`,
  }));
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      const shift = (round - 1) % targets.length;
      for (const target of [...targets.slice(shift), ...targets.slice(0, shift)]) {
        const m = await measure(target, round, scratchRoot, upstream);
        measurements.push(m);
        console.log(
          `  round ${round}/${settings.rounds} ${target.name.padEnd(20)} ${formatInt(m.wrk.requestsPerSec).padStart(7)} req/s` +
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
    targets.map((t) => summarise(t, measurements)),
    measurements,
    startedAt,
  );
}

await main();
