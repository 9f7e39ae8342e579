/**
 * Profile of Groundwork's edge: CPU per request and where it goes, for a proxied route through the
 * gateway (`gateway`), the same route with `bypassGateway` (`raw`), and a plain Groundwork route on
 * the same node (`healthz`: `GET /healthz`, no proxy), which separates the platform's cost (Fastify,
 * request context, gateway, access log, metrics) from the proxy's. A tool for finding and checking
 * CPU cuts, not a benchmark against peers (that is bench/edge-proxy.ts); nothing is written to docs/.
 *
 *   npx tsx bench/profile-edge.ts
 *
 * Each scenario starts one edge-only node (`node --cpu-prof bin/groundwork.js start`, the same
 * config as bench/edge-proxy.ts) in front of one `bench/servers/node-http.mjs` upstream, warms it up
 * with wrk, then measures `wrk -t1 -c64 -d10s`: the node's CPU time over the window divided by the
 * requests served is "CPU µs/req" (user + system from /proc, and the user part alone: the system
 * part is mostly loopback TCP in the four syscalls a proxied request needs). On SIGTERM the node
 * writes its `.cpuprofile` (open it in Chrome DevTools); the samples inside the measured window are
 * summed by package / Groundwork file and by function, as main-thread µs per request. Samples are
 * wall-clock: time in `writev` and other syscalls includes waiting for the CPU on a busy machine,
 * so read the JavaScript rows, and compare CPU µs/req between runs made side by side.
 *
 * Before/after comparisons: build the older revision into a directory of its own (`tsc -p
 * tsconfig.build.json --outDir DIR/dist`, plus `DIR/bin/groundwork.js`, `DIR/package.json` and a
 * `DIR/node_modules` link) and pass both as PROFILE_ROOTS; each scenario then runs on each root in
 * turn, alternating the order every round.
 *
 * Environment:
 * - PROFILE_SCENARIOS: `gateway,raw,healthz` (default); also `ratelimit`, the gateway route with a
 *   per-client-IP sliding-window rate limit that is never reached (bench/edge-proxy.ts's policies),
 *   and `minimal`, bench/edge-proxy.ts's minimal undici proxy peer (plain node:http + undici
 *   `Pool.stream()`, the floor issue 7 measures the edge against) in front of the same upstream,
 *   run once per round whatever PROFILE_ROOTS says (labelled `peer`).
 * - PROFILE_ROUNDS (1), PROFILE_DURATION_S (10), PROFILE_WARMUP_S (3), PROFILE_CONNECTIONS (64),
 *   PROFILE_TOP (25 rows per table).
 * - PROFILE_CPU_PROF: 1 (default) profiles; 0 measures CPU µs/req without the profiler's own cost.
 * - PROFILE_LOG_LEVEL: `warn` (default; no access line) or e.g. `info` (the access log is written).
 * - PROFILE_ROOTS: `label=dir,…`, directories holding `bin/groundwork.js`, `dist/`, `package.json`
 *   and `node_modules` to run instead of this checkout (no build is made then); default: this
 *   checkout, built first, labelled `current`.
 * - PROFILE_OUT: where profiles, `report.txt` and `window.json` (the window's clock bounds and
 *   request count, to dig further into a profile) go; default `.bench-tmp/profile-edge`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildDist, buildRootsFromEnv } from './lib/build.js';
import { type CpuProfile, monotonicUs, type ProfileSummary, summariseProfile } from './lib/cpu-profile.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { type ServerProcess, startServerOnFreePort } from './lib/server-process.js';
import { positiveIntFromEnv } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';

const UPSTREAM_PATH = '/healthz';
const PREFIX = '/up';

type Scenario = 'gateway' | 'raw' | 'healthz' | 'ratelimit' | 'minimal';
/**
 * The default set; on request `ratelimit` (the gateway route with a per-IP rate limit that is never
 * reached) and `minimal` (the minimal undici proxy peer, for reference).
 */
const SCENARIOS: readonly Scenario[] = ['gateway', 'raw', 'healthz'];
const ALL_SCENARIOS: readonly Scenario[] = [...SCENARIOS, 'ratelimit', 'minimal'];
const PEER_ROOT = { label: 'peer', dir: repoRoot };

const settings = {
  scenarios: scenariosFromEnv(),
  rounds: positiveIntFromEnv('PROFILE_ROUNDS', 1),
  durationS: positiveIntFromEnv('PROFILE_DURATION_S', 10),
  warmupS: positiveIntFromEnv('PROFILE_WARMUP_S', 3),
  connections: positiveIntFromEnv('PROFILE_CONNECTIONS', 64),
  top: positiveIntFromEnv('PROFILE_TOP', 25),
  cpuProf: process.env.PROFILE_CPU_PROF !== '0',
  logLevel: process.env.PROFILE_LOG_LEVEL?.trim() || 'warn',
  roots: buildRootsFromEnv(),
  out: path.resolve(process.env.PROFILE_OUT?.trim() || path.join(benchTmpRoot, 'profile-edge')),
};

function scenariosFromEnv(): Scenario[] {
  const raw = process.env.PROFILE_SCENARIOS?.trim();
  if (!raw) return [...SCENARIOS];
  const list = raw.split(',').map((s) => s.trim()) as Scenario[];
  for (const s of list) if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
  return list;
}

const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_')),
);

interface Run {
  root: string;
  scenario: Scenario;
  round: number;
  requests: number;
  requestsPerSec: number;
  cpuUsPerRequest: number | undefined;
  /** The user-space part of `cpuUsPerRequest` (the rest is the kernel's: syscalls, loopback TCP). */
  userUsPerRequest: number | undefined;
  profile?: ProfileSummary;
}

async function measure(
  root: { label: string; dir: string },
  scenario: Scenario,
  round: number,
  upstreamUrl: string,
): Promise<Run> {
  const scratch = path.join(settings.out, `${root.label}-${scenario}-r${round}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(path.join(scratch, 'data'), { recursive: true });
  const config = {
    ...(scenario === 'ratelimit'
      ? {
          gateway: {
            rateLimit: {
              enabled: true,
              key: ['ip'],
              policies: [
                {
                  name: 'bench',
                  algorithm: 'sliding-window-counter',
                  limit: 1_000_000_000,
                  windowMs: 60_000,
                },
              ],
            },
          },
        }
      : {}),
    edge: {
      serveApi: false,
      groups: { upstream: { targets: [{ url: upstreamUrl }] } },
      routes: [
        {
          prefix: PREFIX,
          stripPrefix: true,
          group: 'upstream',
          access: 'public',
          bypassGateway: scenario === 'raw',
        },
      ],
    },
  };
  writeFileSync(path.join(scratch, 'groundwork.config.json'), JSON.stringify(config, null, 2));
  const urlPath = scenario === 'healthz' ? UPSTREAM_PATH : `${PREFIX}${UPSTREAM_PATH}`;
  const profDir = path.join(scratch, 'prof');
  const profArgs = settings.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const { server, port } = await startServerOnFreePort((p) => ({
    name: `groundwork-${scenario}`,
    readyUrl: `http://127.0.0.1:${p}${urlPath}`,
    command: process.execPath,
    args:
      scenario === 'minimal'
        ? [
            ...profArgs,
            path.join(repoRoot, 'bench', 'peers', 'edge-proxy', 'undici-minimal.mjs'),
            '--port',
            String(p),
            '--upstreams',
            upstreamUrl,
          ]
        : [
            ...profArgs,
            path.join(root.dir, 'bin', 'groundwork.js'),
            'start',
            '--host',
            '127.0.0.1',
            '--port',
            String(p),
            '--data-dir',
            path.join(scratch, 'data'),
            '--log-level',
            settings.logLevel,
          ],
    cwd: scratch,
    env: childEnv,
    stdout: path.join(scratch, 'stdout.log'),
  }));
  let window: { fromUs: number; toUs: number } | undefined;
  let run: Run;
  try {
    const load = { url: `http://127.0.0.1:${port}${urlPath}`, threads: 1, connections: settings.connections };
    await runWrk({ ...load, durationS: settings.warmupS });
    const cpuBefore = cpuTimes(server.pid);
    const fromUs = monotonicUs();
    const wrk = await runWrk({ ...load, durationS: settings.durationS });
    const toUs = monotonicUs();
    const cpuAfter = cpuTimes(server.pid);
    window = { fromUs, toUs };
    if (wrk.non2xx3xx > 0 || wrk.requests === 0) {
      throw new Error(`${scenario}: ${wrk.non2xx3xx} non-2xx of ${wrk.requests} responses`);
    }
    run = {
      root: root.label,
      scenario,
      round,
      requests: wrk.requests,
      requestsPerSec: wrk.requestsPerSec,
      cpuUsPerRequest:
        cpuBefore !== undefined && cpuAfter !== undefined
          ? ((cpuAfter.userMs + cpuAfter.systemMs - cpuBefore.userMs - cpuBefore.systemMs) * 1_000) /
            wrk.requests
          : undefined,
      userUsPerRequest:
        cpuBefore !== undefined && cpuAfter !== undefined
          ? ((cpuAfter.userMs - cpuBefore.userMs) * 1_000) / wrk.requests
          : undefined,
    };
  } finally {
    await stop(server);
  }
  if (settings.cpuProf) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`${scenario}: no .cpuprofile in ${profDir}`);
    const profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile;
    run.profile = summariseProfile(profile, window ? [window] : undefined, run.requests);
    writeFileSync(path.join(scratch, 'report.txt'), profileText(run));
    // For further digging: the window's clock bounds and request count, next to the profile.
    writeFileSync(path.join(scratch, 'window.json'), JSON.stringify({ ...window, requests: run.requests }));
    console.log(`  profile: ${path.join(profDir, file)}`);
  }
  return run;
}

async function stop(server: ServerProcess): Promise<void> {
  // Groundwork drains on SIGTERM and exits normally, which is when V8 writes the profile.
  const exit = await server.stop(15_000);
  if (exit.killed) console.warn(`  ${server.name} ignored SIGTERM and was killed (no profile)`);
}

/** User and system CPU time of a live process so far, in ms (/proc/PID/stat, one-tick resolution). */
function cpuTimes(pid: number): { userMs: number; systemMs: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const msPerTick = 1_000 / CLOCK_TICKS;
    return { userMs: Number(fields[14 - 3]) * msPerTick, systemMs: Number(fields[15 - 3]) * msPerTick };
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = clockTicks();

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** CLOCK_MONOTONIC in µs: the clock V8 stamps profile samples with (`TimeTicks`). */
function profileText(run: Run): string {
  const p = run.profile!;
  const rows = (list: [string, number][]) =>
    list
      .slice(0, settings.top)
      .map(([k, v]) => `  ${v.toFixed(2).padStart(7)}  ${k}`)
      .join('\n');
  return [
    `${run.root} ${run.scenario} round ${run.round}: ${Math.round(run.requestsPerSec)} req/s, process CPU ${fmt(run.cpuUsPerRequest)} µs/req (user ${fmt(run.userUsPerRequest)}), main thread busy ${p.busyUsPerRequest.toFixed(1)} µs/req (profile covers ${(p.coverage * 100).toFixed(0)}% of the window)`,
    'self µs/req by group:',
    rows(p.byGroup),
    'self µs/req by function:',
    rows(p.bySelf),
    'inclusive µs/req by function:',
    rows(p.byTotal),
    '',
  ].join('\n');
}

function fmt(value: number | undefined): string {
  return value === undefined ? 'n/a' : value.toFixed(1);
}

async function main(): Promise<void> {
  if (!process.env.PROFILE_ROOTS?.trim()) buildDist();
  mkdirSync(settings.out, { recursive: true });
  const { server: upstream, port } = await startServerOnFreePort((p) => ({
    name: 'upstream',
    readyUrl: `http://127.0.0.1:${p}${UPSTREAM_PATH}`,
    command: process.execPath,
    args: [path.join(repoRoot, 'bench', 'servers', 'node-http.mjs'), '--port', String(p)],
    env: childEnv,
  }));
  const runs: Run[] = [];
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      const order = settings.scenarios.map((_, i, all) => all[(i + round - 1) % all.length]!);
      for (const scenario of order) {
        // Roots alternate too, so a busy spell on the shared machine does not favour one of them.
        const ordered = round % 2 === 1 ? settings.roots : [...settings.roots].reverse();
        const roots = scenario === 'minimal' ? [PEER_ROOT] : ordered;
        for (const root of roots) {
          console.log(`round ${round}: ${root.label} ${scenario}`);
          const run = await measure(root, scenario, round, `http://127.0.0.1:${port}`);
          runs.push(run);
          if (run.profile) console.log(profileText(run));
          else {
            console.log(
              `  ${Math.round(run.requestsPerSec)} req/s, CPU ${fmt(run.cpuUsPerRequest)} µs/req (user ${fmt(run.userUsPerRequest)})`,
            );
          }
        }
      }
    }
  } finally {
    await upstream.stop();
  }
  console.log(`\nsummary (${settings.cpuProf ? 'with' : 'without'} the profiler):`);
  for (const scenario of settings.scenarios) {
    for (const root of scenario === 'minimal' ? [PEER_ROOT] : settings.roots) {
      const mine = runs.filter((r) => r.scenario === scenario && r.root === root.label);
      const cpu = mine.map((r) => fmt(r.cpuUsPerRequest)).join(' / ');
      const user = mine.map((r) => fmt(r.userUsPerRequest)).join(' / ');
      const rps = mine.map((r) => Math.round(r.requestsPerSec)).join(' / ');
      console.log(
        `  ${scenario.padEnd(8)} ${root.label.padEnd(10)} CPU µs/req ${cpu}   user µs/req ${user}   req/s ${rps}`,
      );
    }
  }
}

await main();
