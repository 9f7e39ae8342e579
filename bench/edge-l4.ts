/**
 * L4 (TCP) mode of the edge: what a Groundwork TCP route (`src/edge/l4`) costs in front of
 * PostgreSQL, measured with pgbench's select-only script against one private PostgreSQL, directly
 * and through the route, in one run. Two loads:
 *
 * - `sessions`: BENCH_CLIENTS persistent sessions (`pgbench -S`): the per-message cost of splicing
 *   bytes through the proxy (one small query and answer per transaction).
 * - `connect`: a new session per transaction (`pgbench -S -C`): the per-connection cost (accept,
 *   pick, connect to the target, splice set-up and teardown), the load of short-lived clients.
 *
 * Results go to the `edge-l4` section of docs/benchmarks.md as throughput ratios to direct, with
 * the proxy's CPU time per transaction.
 *
 *   npx tsx bench/edge-l4.ts        (or: npm run bench:edge-l4)
 *
 * The route runs in this process (started from the sources; nothing else runs here while pgbench
 * does) with the production defaults: least connections, active health checks every 5 s, PROXY
 * protocol off. Environment: BENCH_DURATION_S (10), BENCH_CLIENTS (16), BENCH_THREADS (2, pgbench
 * -j), BENCH_ROUNDS (3), BENCH_SCALE (10, pgbench -s). Needs PostgreSQL's binaries (pgbench, initdb,
 * postgres; `apt-get install postgresql`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { TcpProxy } from '../src/edge/l4/tcp-proxy.js';
import { findBinary } from '../test/harness/engines.js';
import { startPostgres } from '../test/harness/postgres.js';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { formatInt, formatMs, formatRatio, markdownTable, textTable } from './lib/format.js';
import { formatMachine, gitRevision, machineInfo } from './lib/machine.js';
import { median, positiveIntFromEnv } from './lib/stats.js';

const NAME = 'edge-l4';
const settings = {
  durationS: positiveIntFromEnv('BENCH_DURATION_S', 10),
  clients: positiveIntFromEnv('BENCH_CLIENTS', 16),
  threads: positiveIntFromEnv('BENCH_THREADS', 2),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 3),
  scale: positiveIntFromEnv('BENCH_SCALE', 10),
};

type Load = 'sessions' | 'connect';
type Path = 'direct' | 'groundwork';
const LOADS: readonly Load[] = ['sessions', 'connect'];

interface Measurement {
  round: number;
  load: Load;
  path: Path;
  tps: number;
  latencyMs: number;
  /** This process's CPU time per transaction (µs): the proxy's cost; ≈0 for direct runs. */
  proxyCpuUs: number;
}

function requireBinary(name: string): string {
  const path = findBinary(name);
  if (path === undefined) throw new Error(`${name} not found (apt-get install -y postgresql)`);
  return path;
}

function pgbench(args: readonly string[]): string {
  const run = spawnSync(requireBinary('pgbench'), args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`pgbench ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout;
}

/** Runs one pgbench measurement; the route keeps serving while pgbench runs (spawn, not spawnSync). */
async function measure(
  port: number,
  database: string,
  load: Load,
): Promise<{ tps: number; latencyMs: number; cpuUs: number }> {
  const args = [
    '-n',
    '-S',
    ...(load === 'connect' ? ['-C'] : []),
    '-c',
    String(settings.clients),
    '-j',
    String(settings.threads),
    '-T',
    String(settings.durationS),
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-U',
    'postgres',
    database,
  ];
  const cpuBefore = process.cpuUsage();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(requireBinary('pgbench'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`pgbench ${args.join(' ')} exited ${code}:\n${stderr}`));
    });
  });
  const cpu = process.cpuUsage(cpuBefore);
  const tps = Number(/^tps = ([\d.]+)/m.exec(output)?.[1]);
  const latencyMs = Number(/^latency average = ([\d.]+) ms/m.exec(output)?.[1]);
  if (!Number.isFinite(tps) || tps <= 0) throw new Error(`no tps in pgbench output:\n${output}`);
  const transactions = tps * settings.durationS;
  return { tps, latencyMs, cpuUs: (cpu.user + cpu.system) / transactions };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const machine = machineInfo();
  console.log(formatMachine(machine));
  const server = await startPostgres();
  const proxy = new TcpProxy({
    registry: new Registry(),
    routes: [{ name: 'bench', listen: { port: 0 }, targets: [`127.0.0.1:${server.port}`] }],
  });
  const measurements: Measurement[] = [];
  try {
    const database = (await server.createDatabase('pgbench')).split('/').pop()!;
    console.log(`pgbench -i -s ${settings.scale}`);
    const at = ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres'];
    pgbench(['-i', '-q', '-s', String(settings.scale), ...at, database]);
    await proxy.start();
    const ports: Record<Path, number> = { direct: server.port, groundwork: proxy.routes[0]!.port };
    for (let round = 1; round <= settings.rounds; round++) {
      for (const load of LOADS) {
        // Alternate which path goes first, so a drift within the round favours neither.
        const order: Path[] = round % 2 === 1 ? ['direct', 'groundwork'] : ['groundwork', 'direct'];
        for (const path of order) {
          const result = await measure(ports[path], database, load);
          measurements.push({
            round,
            load,
            path,
            tps: result.tps,
            latencyMs: result.latencyMs,
            proxyCpuUs: result.cpuUs,
          });
          console.log(
            `round ${round} ${load} ${path}: ${formatInt(result.tps)} tps, ${formatMs(result.latencyMs)} ms`,
          );
        }
      }
    }
  } finally {
    await proxy.close();
    await server.destroy();
  }

  const of = (load: Load, path: Path) => measurements.filter((m) => m.load === load && m.path === path);
  const ratio = (load: Load) =>
    median(
      Array.from({ length: settings.rounds }, (_, i) => {
        const direct = of(load, 'direct')[i]!.tps;
        return of(load, 'groundwork')[i]!.tps / direct;
      }),
    );
  const headers = [
    'load',
    'direct tps',
    'through Groundwork tps',
    'ratio',
    'latency direct / proxied (ms)',
    'proxy CPU µs / tx',
  ];
  const align = ['left', 'right', 'right', 'right', 'right', 'right'] as const;
  const rows = LOADS.map((load) => [
    load === 'sessions' ? `${settings.clients} sessions (-S)` : `connection per tx (-S -C)`,
    formatInt(median(of(load, 'direct').map((m) => m.tps))),
    formatInt(median(of(load, 'groundwork').map((m) => m.tps))),
    formatRatio(ratio(load)),
    `${formatMs(median(of(load, 'direct').map((m) => m.latencyMs)))} / ${formatMs(median(of(load, 'groundwork').map((m) => m.latencyMs)))}`,
    median(of(load, 'groundwork').map((m) => m.proxyCpuUs)).toFixed(1),
  ]);
  console.log(`\n${textTable(headers, rows, align)}\n`);

  const command = [
    ...Object.entries(process.env)
      .filter(([key, value]) => key.startsWith('BENCH_') && value)
      .map(([key, value]) => `${key}=${value}`)
      .sort(),
    'npx tsx bench/edge-l4.ts',
  ].join(' ');
  writeBenchmarkAsset(
    `${NAME}.json`,
    `${JSON.stringify({ startedAt, command, revision: gitRevision(), machine, settings, measurements }, null, 2)}\n`,
  );
  writeBenchmarkAsset(
    `${NAME}.svg`,
    barChartSvg({
      title: 'pgbench -S through a Groundwork TCP route, relative to direct (higher is better)',
      subtitle: `${startedAt.toISOString().slice(0, 10)}, ${machine.cores} cores, Node ${machine.node}, median of ${settings.rounds}`,
      bars: LOADS.map((load) => ({
        label: load === 'sessions' ? 'persistent sessions' : 'connection per tx',
        value: ratio(load),
        valueLabel: formatRatio(ratio(load)),
        highlight: true,
      })),
    }),
  );
  const body = `## Edge L4 (TCP) mode: PostgreSQL through a TCP route

pgbench's select-only script against one private PostgreSQL 15, directly and through a Groundwork
TCP route (\`src/edge/l4\`, production defaults: least connections, TCP health checks, PROXY protocol
off) on the same machine, in the same run.

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${gitRevision()}\`
- **Command:** \`${command}\` from the repository root (starts a private PostgreSQL, stops it at the end)
- **Machine:** ${formatMachine(machine)}
- **Load:** pgbench scale ${settings.scale}, ${settings.clients} clients, ${settings.threads} threads, ${settings.durationS} s per case; ${settings.rounds} rounds, direct and proxied back to back in an order alternated every round. Ratios are medians of the per-round ratios.

${markdownTable(headers, rows, align)}

![pgbench through a TCP route](benchmarks/${NAME}.svg)

"proxy CPU" is the CPU time of the process running the route, per transaction: with persistent
sessions it is the cost of moving one query and its answer through the splice; with a connection
per transaction it adds accepting, choosing a target, connecting and tearing both sockets down.
PostgreSQL, pgbench and the route share ${machine.cores} cores, so the proxied figures include the
CPU the route takes from the other two. Absolute numbers move ±20% between runs: compare ratios.
`;
  writeBenchmarkSection(NAME, body);
  console.log(`wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${NAME}.svg and .json`);
}

await main();
