/**
 * Profile of the data REST API's list read: CPU per request of the server (and of PostgreSQL) and,
 * with the profiler, where the server's time goes, for bench/data-rest.ts's list
 * (`?filter=tag = "tK"&sort=n&limit=50`, admin API key) on SQLite and PostgreSQL. A tool for finding
 * and checking CPU cuts, not a benchmark against peers (that is bench/data-rest.ts); nothing is
 * written to docs/.
 *
 *   npx tsx bench/profile-data.ts
 *
 * Per dialect, one `node [--cpu-prof] bin/groundwork.js start` node per root, side by side, each with
 * the collection of bench/data-rest.ts seeded with PROFILE_ROWS rows through `/api/v1/batch` and
 * warmed up; then PROFILE_ROUNDS short `wrk -t1 -c64` windows alternate between the nodes (the
 * machine is shared and noisy: compare medians of interleaved windows, not single runs). A node's
 * CPU time over a window divided by the requests served is "CPU µs/req"; PostgreSQL's (postmaster
 * and backends) likewise. Profiles are summed by function as in bench/profile-edge.ts (main-thread
 * µs per request inside the measured windows).
 *
 * Environment: PROFILE_DIALECTS (`sqlite,postgres`), PROFILE_ROUNDS (5), PROFILE_DURATION_S (4),
 * PROFILE_WARMUP_S (2), PROFILE_ROWS (10000), PROFILE_CPU_PROF (1; 0 = no profiler), PROFILE_TOP
 * (25), PROFILE_PATH (`list`, or `get`), PROFILE_ROOTS (`label=dir,…` as in bench/profile-edge.ts;
 * default this checkout, built first), PROFILE_OUT (`.bench-tmp/profile-data`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type PostgresServer, startPostgres } from '../test/harness/postgres.js';
import { buildDist, buildRootsFromEnv } from './lib/build.js';
import { type CpuProfile, monotonicUs, profileReport, summariseProfile } from './lib/cpu-profile.js';
import { startGroundworkNode } from './lib/groundwork-node.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { processCpuMs, processTreeCpuMs } from './lib/proc-cpu.js';
import type { ServerProcess } from './lib/server-process.js';
import { positiveIntFromEnv } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';

type Dialect = 'sqlite' | 'postgres';
const COLLECTION = 'bench_items';
const TAGS = 20;
const RECORDS = `/api/v1/collections/${COLLECTION}/records`;

const settings = {
  dialects: (process.env.PROFILE_DIALECTS?.trim() || 'sqlite,postgres').split(',') as Dialect[],
  rounds: positiveIntFromEnv('PROFILE_ROUNDS', 5),
  durationS: positiveIntFromEnv('PROFILE_DURATION_S', 4),
  warmupS: positiveIntFromEnv('PROFILE_WARMUP_S', 2),
  rows: positiveIntFromEnv('PROFILE_ROWS', 10_000),
  top: positiveIntFromEnv('PROFILE_TOP', 25),
  cpuProf: process.env.PROFILE_CPU_PROF !== '0',
  pathKind: process.env.PROFILE_PATH?.trim() || 'list',
  roots: buildRootsFromEnv(),
  out: path.resolve(process.env.PROFILE_OUT?.trim() || path.join(benchTmpRoot, 'profile-data')),
};

const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_') && !key.startsWith('PG'),
  ),
);

interface Run {
  label: string;
  dialect: Dialect;
  requests: number;
  requestsPerSec: number;
  cpuUsPerRequest: number;
  pgUsPerRequest: number | undefined;
}

interface Target {
  label: string;
  dialect: Dialect;
  server: ServerProcess;
  load: Parameters<typeof runWrk>[0];
  profDir: string;
  scratch: string;
  windows: { fromUs: number; toUs: number; requests: number }[];
}

async function call(base: string, method: string, url: string, key: string, body?: unknown) {
  const response = await fetch(base + url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

/** Starts one node of `root` on `dialect`, creates and seeds the collection, warms it up. */
async function setup(
  root: { label: string; dir: string },
  dialect: Dialect,
  pgServer: PostgresServer | undefined,
): Promise<Target> {
  const scratch = path.join(settings.out, `${root.label}-${dialect}`);
  rmSync(scratch, { recursive: true, force: true });
  const dbUrl = dialect === 'postgres' ? await pgServer?.createDatabase('profile') : undefined;
  const profDir = path.join(scratch, 'prof');
  const node = await startGroundworkNode({
    name: `groundwork-${root.label}-${dialect}`,
    scratch,
    dbUrl,
    root: root.dir,
    nodeArgs: settings.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
    env: childEnv,
  });
  const { server, base } = node;
  try {
    const key = node.createAdminKey();
    await call(base, 'POST', '/api/v1/collections', key, {
      name: COLLECTION,
      fields: [
        { name: 'title', type: 'text' },
        { name: 'n', type: 'number', integer: true },
        { name: 'tag', type: 'text' },
        { name: 'done', type: 'boolean' },
      ],
      indexes: [{ fields: ['tag', 'n'] }],
      rules: { list: '', view: '', create: '', update: null, delete: null },
    });
    for (let from = 0; from < settings.rows; from += 100) {
      const operations = [];
      for (let n = from; n < Math.min(settings.rows, from + 100); n++) {
        operations.push({
          op: 'create',
          collection: COLLECTION,
          data: { title: `item ${n}`, n, tag: `t${n % TAGS}`, done: n % 2 === 0 },
        });
      }
      await call(base, 'POST', '/api/v1/batch', key, { operations });
    }
    if (dbUrl !== undefined) execFileSync('psql', [dbUrl, '-qc', `analyze "${COLLECTION}"`]);
    const pathsFile = path.join(scratch, 'paths.txt');
    let paths: string[];
    if (settings.pathKind === 'get') {
      const page = (await call(base, 'GET', `${RECORDS}?limit=500`, key)) as { items: { id: string }[] };
      paths = page.items.map((item) => `${RECORDS}/${item.id}`);
    } else {
      paths = Array.from(
        { length: TAGS },
        (_, i) => `${RECORDS}?filter=${encodeURIComponent(`tag = "t${i}"`)}&sort=n&limit=50`,
      );
    }
    writeFileSync(pathsFile, `${paths.join('\n')}\n`);
    const load = {
      url: base,
      threads: 1,
      connections: 64,
      durationS: settings.warmupS,
      headers: { authorization: `Bearer ${key}` },
      script: path.join(repoRoot, 'bench', 'servers', 'data-rest-paths.lua'),
      scriptArgs: [pathsFile],
    };
    await runWrk(load);
    return { label: root.label, dialect, server, load, profDir, scratch, windows: [] };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** One measured wrk window on `target`. */
async function measure(target: Target, pgServer: PostgresServer | undefined): Promise<Run> {
  const pgPid = target.dialect === 'postgres' ? pgServer?.pid : undefined;
  const cpuBefore = processCpuMs(target.server.pid) ?? 0;
  const pgBefore = pgPid === undefined ? undefined : processTreeCpuMs(pgPid);
  const fromUs = monotonicUs();
  const wrk = await runWrk({ ...target.load, durationS: settings.durationS });
  const toUs = monotonicUs();
  const cpuAfter = processCpuMs(target.server.pid) ?? 0;
  const pgAfter = pgPid === undefined ? undefined : processTreeCpuMs(pgPid);
  if (wrk.non2xx3xx > 0 || wrk.requests === 0)
    throw new Error(
      `${target.label} ${target.dialect}: ${wrk.non2xx3xx} non-2xx of ${wrk.requests} responses`,
    );
  target.windows.push({ fromUs, toUs, requests: wrk.requests });
  return {
    label: target.label,
    dialect: target.dialect,
    requests: wrk.requests,
    requestsPerSec: wrk.requestsPerSec,
    cpuUsPerRequest: ((cpuAfter - cpuBefore) * 1_000) / wrk.requests,
    pgUsPerRequest:
      pgBefore !== undefined && pgAfter !== undefined
        ? ((pgAfter - pgBefore) * 1_000) / wrk.requests
        : undefined,
  };
}

/** Stops the node; with the profiler, sums its profile over the measured windows. */
async function finish(target: Target): Promise<string | undefined> {
  const exit = await target.server.stop(15_000);
  if (exit.killed) console.warn(`  ${target.server.name} ignored SIGTERM and was killed`);
  if (!settings.cpuProf) return undefined;
  const file = readdirSync(target.profDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) return undefined;
  const profile = JSON.parse(readFileSync(path.join(target.profDir, file), 'utf8')) as CpuProfile;
  const requests = target.windows.reduce((sum, w) => sum + w.requests, 0);
  const report = profileReport(summariseProfile(profile, target.windows, requests), settings.top);
  writeFileSync(path.join(target.scratch, 'report.txt'), report);
  return report;
}

async function main(): Promise<void> {
  if (!process.env.PROFILE_ROOTS?.trim()) buildDist();
  mkdirSync(settings.out, { recursive: true });
  const pgServer = settings.dialects.includes('postgres') ? await startPostgres() : undefined;
  const runs: Run[] = [];
  try {
    for (const dialect of settings.dialects) {
      // Every root's node runs side by side and the windows alternate between them, so a busy
      // spell on the shared machine falls on all of them alike.
      const targets: Target[] = [];
      try {
        for (const root of settings.roots) targets.push(await setup(root, dialect, pgServer));
        for (let round = 1; round <= settings.rounds; round++) {
          const order = round % 2 === 1 ? targets : [...targets].reverse();
          for (const target of order) {
            const run = await measure(target, pgServer);
            runs.push(run);
            console.log(
              `round ${round} ${run.label} ${dialect}: ${Math.round(run.requestsPerSec)} req/s, server CPU ${run.cpuUsPerRequest.toFixed(1)} µs/req` +
                (run.pgUsPerRequest === undefined
                  ? ''
                  : `, PostgreSQL ${run.pgUsPerRequest.toFixed(1)} µs/req`),
            );
          }
        }
      } finally {
        for (const target of targets) {
          const report = await finish(target);
          if (report) console.log(`${target.label} ${dialect} profile:\n${report}`);
        }
      }
    }
  } finally {
    await pgServer?.destroy();
  }
  const med = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  console.log(
    `\nsummary (${settings.cpuProf ? 'with' : 'without'} the profiler; median of ${settings.rounds}):`,
  );
  for (const dialect of settings.dialects) {
    for (const root of settings.roots) {
      const mine = runs.filter((r) => r.dialect === dialect && r.label === root.label);
      const pg = mine.map((r) => r.pgUsPerRequest ?? 0);
      console.log(
        `  ${dialect.padEnd(8)} ${root.label.padEnd(10)} server CPU µs/req ${med(mine.map((r) => r.cpuUsPerRequest)).toFixed(1)}` +
          ` (${mine.map((r) => r.cpuUsPerRequest.toFixed(0)).join(' ')})` +
          (dialect === 'postgres'
            ? `   PostgreSQL µs/req ${med(pg).toFixed(1)} (${pg.map((v) => v.toFixed(0)).join(' ')})`
            : '') +
          `   req/s ${med(mine.map((r) => r.requestsPerSec)).toFixed(0)}`,
      );
    }
  }
}

await main();
