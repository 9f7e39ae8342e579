/**
 * HTTP baseline: requests/s and latency of `GET /healthz` on Groundwork against a bare node:http
 * server and bare Fastify, measured in one run so the ratios show what the platform's own
 * per-request work costs. Results go to the `http-baseline` section of docs/benchmarks.md.
 *
 *   npx tsx bench/http-baseline.ts            (npm run bench:http-baseline)
 *
 * Environment: BENCH_DURATION_S (10), BENCH_CONNECTIONS (64), BENCH_THREADS (1, wrk threads),
 * BENCH_WARMUP_S (2), BENCH_ROUNDS (2).
 */
import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { buildDist } from './lib/build.js';
import { formatInt, formatMs, formatRatio, markdownTable, textTable } from './lib/format.js';
import { formatMachine, gitRevision, machineInfo } from './lib/machine.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { busyShare, processCpuMs, systemCpuSample } from './lib/proc-cpu.js';
import { type StartServerOptions, startServerOnFreePort } from './lib/server-process.js';
import { median, positiveIntFromEnv } from './lib/stats.js';
import { runWrk, type WrkResult, wrkBinary } from './lib/wrk.js';

const NAME = 'http-baseline';
const PATH = '/healthz';

const settings = {
  durationS: positiveIntFromEnv('BENCH_DURATION_S', 10),
  connections: positiveIntFromEnv('BENCH_CONNECTIONS', 64),
  threads: positiveIntFromEnv('BENCH_THREADS', 1),
  warmupS: positiveIntFromEnv('BENCH_WARMUP_S', 2),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 2),
};

interface Target {
  name: string;
  /** Groundwork itself (highlighted in the chart), as opposed to a peer. */
  groundwork: boolean;
  description: string;
  options(port: number, scratchDir: string): Omit<StartServerOptions, 'name' | 'readyUrl'>;
}

/**
 * Every target is one Node process started the same way (`node FILE`, no tsx loader, no
 * NODE_OPTIONS, no GROUNDWORK_* variables), so the only difference is the code that answers.
 */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_')),
);
const groundworkBin = path.join(repoRoot, 'bin', 'groundwork.js');

function groundwork(port: number, scratchDir: string, extra: readonly string[]) {
  const dataDir = path.join(scratchDir, 'data');
  mkdirSync(dataDir, { recursive: true });
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
      ...extra,
    ],
    // The scratch dir as cwd keeps a groundwork.config.* in the repository out of the run.
    cwd: scratchDir,
    env: childEnv,
  };
}

const targets: readonly Target[] = [
  {
    name: 'node-http',
    groundwork: false,
    description: 'bare `node:http` (`bench/servers/node-http.mjs`), `JSON.stringify` per request.',
    options: (port) => ({
      command: process.execPath,
      args: [path.join(repoRoot, 'bench/servers/node-http.mjs'), '--port', String(port)],
      env: childEnv,
    }),
  },
  {
    name: 'fastify',
    groundwork: false,
    description: 'bare Fastify 5 (`bench/servers/fastify.mjs`), no logger, one route.',
    options: (port) => ({
      command: process.execPath,
      args: [path.join(repoRoot, 'bench/servers/fastify.mjs'), '--port', String(port)],
      env: childEnv,
    }),
  },
  {
    name: 'groundwork',
    groundwork: true,
    description:
      '`node bin/groundwork.js start` with the default config (SQLite, log level `info`: one JSON ' +
      'access-log line per request, stdout to /dev/null).',
    options: (port, scratch) => groundwork(port, scratch, []),
  },
  {
    name: 'groundwork-quiet',
    groundwork: true,
    description: 'the same with `--log-level warn`: no access log, everything else identical.',
    options: (port, scratch) => groundwork(port, scratch, ['--log-level', 'warn']),
  },
];

interface Measurement {
  target: string;
  round: number;
  wrk: Omit<WrkResult, 'raw'>;
  /** Server CPU (user + system) per request during the measured window, in µs. */
  serverCpuUsPerRequest: number | undefined;
  /** Cores' worth of CPU the server used during the window: about 1 means its one thread was saturated. */
  serverCores: number | undefined;
  /** Share of all cores busy during the measured window (server + wrk + anything else). */
  machineBusy: number | undefined;
}

async function measure(target: Target, round: number, scratchRoot: string): Promise<Measurement> {
  const scratch = path.join(scratchRoot, `${target.name}-r${round}`);
  mkdirSync(scratch, { recursive: true });
  const { server, port } = await startServerOnFreePort((p) => ({
    name: target.name,
    readyUrl: `http://127.0.0.1:${p}${PATH}`,
    stdout: 'ignore',
    ...target.options(p, scratch),
  }));
  try {
    const body: unknown = JSON.parse(server.readyBody);
    if ((body as { status?: unknown } | null)?.status !== 'ok') {
      throw new Error(`${target.name}: ${PATH} answered ${server.readyBody}, expected {"status":"ok"}`);
    }
    const url = `http://127.0.0.1:${port}${PATH}`;
    const load = { url, threads: settings.threads, connections: settings.connections };
    await runWrk({ ...load, durationS: settings.warmupS });
    const cpuBefore = processCpuMs(server.pid);
    const wallBefore = performance.now();
    const sysBefore = systemCpuSample();
    const { raw: _raw, ...wrk } = await runWrk({ ...load, durationS: settings.durationS });
    const cpuAfter = processCpuMs(server.pid);
    const wallMs = performance.now() - wallBefore;
    const machineBusy = busyShare(sysBefore, systemCpuSample());
    if (wrk.requests === 0) throw new Error(`${target.name}: wrk completed no requests against ${url}`);
    if (wrk.non2xx3xx > 0) {
      throw new Error(`${target.name}: ${wrk.non2xx3xx} responses were not 2xx/3xx; the run measured errors`);
    }
    const serverCpuUsPerRequest =
      cpuBefore !== undefined && cpuAfter !== undefined && wrk.requests > 0
        ? ((cpuAfter - cpuBefore) * 1_000) / wrk.requests
        : undefined;
    const serverCores =
      cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) / wallMs : undefined;
    return { target: target.name, round, wrk, serverCpuUsPerRequest, serverCores, machineBusy };
  } finally {
    const exit = await server.stop();
    if (exit.killed) console.warn(`  ${target.name} ignored SIGTERM and was killed`);
  }
}

interface Summary {
  target: Target;
  requestsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  serverCpuUsPerRequest: number | undefined;
  perRound: readonly number[];
  socketErrors: number;
}

function summarise(target: Target, all: readonly Measurement[]): Summary {
  const runs = all.filter((m) => m.target === target.name).sort((a, b) => a.round - b.round);
  const cpu = runs.flatMap((m) => (m.serverCpuUsPerRequest === undefined ? [] : [m.serverCpuUsPerRequest]));
  return {
    target,
    requestsPerSec: median(runs.map((m) => m.wrk.requestsPerSec)),
    p50: median(runs.map((m) => m.wrk.latencyMs.p50)),
    p90: median(runs.map((m) => m.wrk.latencyMs.p90)),
    p99: median(runs.map((m) => m.wrk.latencyMs.p99)),
    serverCpuUsPerRequest: cpu.length > 0 ? median(cpu) : undefined,
    perRound: runs.map((m) => m.wrk.requestsPerSec),
    socketErrors: runs.reduce(
      (sum, m) => sum + Object.values(m.wrk.socketErrors).reduce((a, b) => a + b, 0),
      0,
    ),
  };
}

function formatCpuUs(value: number | undefined): string {
  return value === undefined ? 'n/a' : value.toFixed(1);
}

/** The command as typed, with any BENCH_* overrides in front. */
function commandLine(): string {
  const overrides = Object.entries(process.env)
    .filter(([key, value]) => key.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([key, value]) => `${key}=${value}`)
    .sort();
  return [...overrides, 'npx tsx bench/http-baseline.ts'].join(' ');
}

function report(summaries: readonly Summary[], measurements: readonly Measurement[], startedAt: Date): void {
  const machine = machineInfo();
  const revision = gitRevision();
  const byName = new Map(summaries.map((s) => [s.target.name, s]));
  const nodeHttp = byName.get('node-http')!.requestsPerSec;
  const fastify = byName.get('fastify')!.requestsPerSec;
  const headers = ['target', 'req/s', 'p50 ms', 'p99 ms', 'vs node-http', 'vs fastify', 'server CPU µs/req'];
  const align = ['left', 'right', 'right', 'right', 'right', 'right', 'right'] as const;
  const rows = summaries.map((s) => [
    s.target.name,
    formatInt(s.requestsPerSec),
    formatMs(s.p50),
    formatMs(s.p99),
    formatRatio(s.requestsPerSec / nodeHttp),
    formatRatio(s.requestsPerSec / fastify),
    formatCpuUs(s.serverCpuUsPerRequest),
  ]);
  const wrkArgs = `wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency`;
  console.log(`\n${textTable(headers, rows, align)}\n`);

  const chartFile = `${NAME}.svg`;
  const date = startedAt.toISOString().slice(0, 10);
  writeBenchmarkAsset(
    chartFile,
    barChartSvg({
      title: `GET ${PATH}: requests/s (median of ${settings.rounds}, higher is better)`,
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

  const gw = byName.get('groundwork')!;
  const quiet = byName.get('groundwork-quiet')!;
  const fastifySummary = byName.get('fastify')!;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const change = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(Math.round(x * 100))}%`;
  const cpu = (summary: Summary) => formatCpuUs(summary.serverCpuUsPerRequest);
  const cores = measurements.flatMap((m) => (m.serverCores === undefined ? [] : [m.serverCores]));
  const unsaturated = [
    ...new Set(measurements.filter((m) => (m.serverCores ?? 1) < 0.9).map((m) => m.target)),
  ];
  // Whether req/s measured the servers or the load generator: a server below ~1 core was waiting on wrk.
  const boundNote =
    cores.length === 0
      ? ''
      : unsaturated.length === 0
        ? `- Every server was CPU-bound: its process used ${Math.min(...cores).toFixed(2)}–${Math.max(...cores).toFixed(2)} cores during each measurement (one JavaScript thread, plus GC helpers), so req/s is set by each server's CPU cost per request and wrk, on the remaining core, was not the limit. That is why the req/s ratios track the inverse of the CPU column.\n`
        : `- **Not CPU-bound:** ${unsaturated.map((t) => `\`${t}\``).join(', ')} used under 0.9 cores in at least one round (${Math.min(...cores).toFixed(2)}–${Math.max(...cores).toFixed(2)} across all), so their req/s was limited by wrk or by the machine's other work, and ratios to them are understated; trust the CPU column more there.\n`;
  const peersNote =
    Math.abs(fastify / nodeHttp - 1) < 0.1
      ? `- Bare Fastify comes close to bare \`node:http\` (${formatRatio(fastify / nodeHttp)}; ${cpu(fastifySummary)} vs ${cpu(byName.get('node-http')!)} µs CPU per request): Fastify's routing and serialisation add little to what both pay for the HTTP parser, response writing and socket system calls.\n`
      : '';
  const errors = summaries.filter((s) => s.socketErrors > 0);
  const busy = measurements.flatMap((m) => (m.machineBusy === undefined ? [] : [m.machineBusy]));
  const body = `## HTTP baseline: \`GET ${PATH}\`

What the platform's own per-request work costs, against the floor (bare \`node:http\`) and the
framework it is built on (bare Fastify), for the cheapest possible route.

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${revision}\` (\`dist/\` build)
- **Command:** \`${commandLine()}\` from the repository root (builds \`dist/\` first if it is missing)
- **Machine:** ${formatMachine(machine)}
- **Load:** \`${wrkArgs} http://127.0.0.1:PORT${PATH}\` per target, after a ${settings.warmupS} s warm-up at the same settings. ${settings.rounds} round(s), targets interleaved with the order rotated each round; each figure is the median over rounds. Every target is a single Node process; wrk and the server share the machine's ${machine.cores} cores.${busy.length > 0 ? ` All cores were ${pct(Math.min(...busy))}–${pct(Math.max(...busy))} busy during the measured windows.` : ''}

${markdownTable(headers, rows, align)}

"vs" columns are req/s ratios (1.00× = as fast as that peer). req/s per round: ${summaries
    .map((s) => `${s.target.name} ${s.perRound.map(formatInt).join(' / ')}`)
    .join('; ')}.${
    errors.length > 0
      ? ` **Socket errors** (connect/read/write/timeout) during the run: ${errors
          .map((s) => `${s.target.name} ${s.socketErrors}`)
          .join(', ')}.`
      : ' No socket errors, every response 200.'
  }

![GET ${PATH} requests/s per target](benchmarks/${chartFile})

Targets:
${summaries.map((s) => `- \`${s.target.name}\`: ${s.target.description}`).join('\n')}

**What the ratios mean.**

- Groundwork serves ${pct(gw.requestsPerSec / fastify)} of bare Fastify's throughput and ${pct(gw.requestsPerSec / nodeHttp)} of bare \`node:http\`'s on this route, and its process spends ${cpu(gw)} µs of CPU per request against Fastify's ${cpu(fastifySummary)} µs.
- The gap to Fastify is Groundwork's own per-request work, paid by every route: the \`onRequest\` hook (request id as a random UUID, W3C trace context, a child logger per request, the \`x-request-id\` header), the \`onSend\` drain check, and the \`onResponse\` hook (latency-histogram observation and the access-log line). The health route also sets \`cache-control: no-store\`, which the peers do not.
- The access log alone is the step from \`groundwork-quiet\` to \`groundwork\`: ${formatInt(quiet.requestsPerSec)} → ${formatInt(gw.requestsPerSec)} req/s (${change(gw.requestsPerSec / quiet.requestsPerSec - 1)}), ${cpu(quiet)} → ${cpu(gw)} µs CPU per request.
- "server CPU µs/req" is the server process's CPU time (user + system) over the measured window divided by the requests it served; it does not depend on how much CPU wrk took, so it is the steadier measure of overhead on a small, shared machine.
${boundNote}${peersNote}- These are upper bounds on the relative cost: a route that reads the database spends far more than these microseconds on its own work, so the fixed overhead is a smaller share there.
- p50/p99 are measured with ${settings.connections} connections at saturation, so they are mostly queueing (connections ÷ throughput) and move with req/s; they are not the latency of a single request on an idle server.
- Absolute numbers vary ±20% between runs on this machine: compare later results by ratio, measured in the same run.
`;
  writeBenchmarkSection(NAME, body);
  console.log(
    `wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${chartFile}, docs/benchmarks/${NAME}.json`,
  );
}

async function main(): Promise<void> {
  wrkBinary(); // fail before building anything if the load generator is missing
  buildDist();
  const startedAt = new Date();
  const scratchRoot = path.join(benchTmpRoot, `${NAME}-${process.pid}`);
  mkdirSync(scratchRoot, { recursive: true });
  const measurements: Measurement[] = [];
  console.log(
    `${NAME}: ${targets.length} targets × ${settings.rounds} round(s), wrk -t${settings.threads} ` +
      `-c${settings.connections} -d${settings.durationS}s after ${settings.warmupS} s warm-up`,
  );
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      // Rotating the order spreads any drift (thermal, other work on the box) over all targets.
      const shift = (round - 1) % targets.length;
      for (const target of [...targets.slice(shift), ...targets.slice(0, shift)]) {
        const m = await measure(target, round, scratchRoot);
        measurements.push(m);
        console.log(
          `  round ${round}/${settings.rounds} ${target.name.padEnd(17)} ${formatInt(m.wrk.requestsPerSec).padStart(7)} req/s` +
            `  p50 ${formatMs(m.wrk.latencyMs.p50)} ms  p99 ${formatMs(m.wrk.latencyMs.p99)} ms` +
            (m.serverCpuUsPerRequest === undefined
              ? ''
              : `  ${formatCpuUs(m.serverCpuUsPerRequest)} µs CPU/req`) +
            (m.serverCores === undefined ? '' : `  server ${m.serverCores.toFixed(2)} cores`) +
            (m.machineBusy === undefined ? '' : `  machine ${Math.round(m.machineBusy * 100)}% busy`),
        );
      }
    }
  } finally {
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
