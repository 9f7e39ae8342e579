/**
 * Profile of Groundwork's record create (`POST /api/v1/collections/bench_items/records`, the body
 * bench/data-rest.ts sends, admin API key): CPU per request of the server and of PostgreSQL, and
 * where the server's goes. A tool for finding and checking CPU cuts on the write path, not a
 * benchmark against peers (that is bench/data-rest.ts); nothing is written to docs/.
 *
 *   npx tsx bench/profile-data-write.ts
 *
 * Each target starts one node (`node [--cpu-prof] bin/groundwork.js start`), creates the
 * collection of bench/data-rest.ts (no seed rows), warms up with wrk and measures one window of
 * `wrk -t1 -c64` with bench/servers/data-rest-create.lua. CPU µs/req is the process's (and for
 * PostgreSQL the postmaster tree's) user + system time over the window ÷ requests served. With the
 * profiler on, the samples inside the window are summed by group and function, as µs per request.
 *
 * Environment: PROFILE_TARGETS (`sqlite,postgres`), PROFILE_DURATION_S (8), PROFILE_WARMUP_S (2),
 * PROFILE_CONNECTIONS (64), PROFILE_TOP (25), PROFILE_CPU_PROF (1; 0 measures without the
 * profiler's own cost), PROFILE_OUT (`.bench-tmp/profile-data-write`), PROFILE_ROOT (a directory
 * holding `bin/groundwork.js`, `dist/` and `node_modules` to profile instead of this checkout, e.g. an
 * older revision built elsewhere for a before/after comparison; no build is made then).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDatabaseAt, type PostgresServer, startPostgres } from '../test/harness/postgres.js';
import { buildDist } from './lib/build.js';
import { type CpuProfile, monotonicUs, profileReport, summariseProfile } from './lib/cpu-profile.js';
import { startGroundworkNode } from './lib/groundwork-node.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { processCpuMs, processTreeCpuMs } from './lib/proc-cpu.js';
import { positiveIntFromEnv } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';

type Target = 'sqlite' | 'postgres';

const settings = {
  targets: (process.env.PROFILE_TARGETS?.trim() || 'sqlite,postgres').split(',') as Target[],
  durationS: positiveIntFromEnv('PROFILE_DURATION_S', 8),
  warmupS: positiveIntFromEnv('PROFILE_WARMUP_S', 2),
  connections: positiveIntFromEnv('PROFILE_CONNECTIONS', 64),
  top: positiveIntFromEnv('PROFILE_TOP', 25),
  cpuProf: process.env.PROFILE_CPU_PROF !== '0',
  out: path.resolve(process.env.PROFILE_OUT?.trim() || path.join(benchTmpRoot, 'profile-data-write')),
};

const COLLECTION = 'bench_items';
const RECORDS = `/api/v1/collections/${COLLECTION}/records`;
/** PROFILE_ROOT: a directory with `bin/`, `dist/` and `node_modules` to run instead of this checkout (no build then). */
const root = process.env.PROFILE_ROOT?.trim() ? path.resolve(process.env.PROFILE_ROOT.trim()) : repoRoot;
const createScript = path.join(repoRoot, 'bench', 'servers', 'data-rest-create.lua');
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_') && !key.startsWith('PG'),
  ),
);

async function measure(target: Target, postgres: PostgresServer | undefined): Promise<void> {
  const scratch = path.join(settings.out, target);
  rmSync(scratch, { recursive: true, force: true });
  const dbUrl = postgres ? await createDatabaseAt(postgres.url(), 'profile') : undefined;
  const profDir = path.join(scratch, 'prof');
  const node = await startGroundworkNode({
    name: `groundwork-${target}`,
    scratch,
    dbUrl,
    root,
    nodeArgs: settings.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
    env: childEnv,
  });
  const { server, base } = node;
  let window: { fromUs: number; toUs: number } | undefined;
  let requests = 0;
  try {
    const key = node.createAdminKey();
    const headers = { authorization: `Bearer ${key}` };
    const created = await fetch(`${base}/api/v1/collections`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: COLLECTION,
        fields: [
          { name: 'title', type: 'text' },
          { name: 'n', type: 'number', integer: true },
          { name: 'tag', type: 'text' },
          { name: 'done', type: 'boolean' },
        ],
        indexes: [{ fields: ['tag', 'n'] }],
        rules: { list: '', view: '', create: '', update: null, delete: null },
      }),
    });
    if (created.status !== 201) throw new Error(`collection: HTTP ${created.status} ${await created.text()}`);
    const load = {
      url: base + RECORDS,
      threads: 1,
      connections: settings.connections,
      headers: { ...headers, 'Content-Type': 'application/json' },
      script: createScript,
    };
    await runWrk({ ...load, durationS: settings.warmupS, scriptArgs: [randomUUID().slice(0, 8)] });
    const cpuBefore = processCpuMs(server.pid);
    const pgBefore = postgres ? processTreeCpuMs(postgres.pid) : undefined;
    const fromUs = monotonicUs();
    const wrk = await runWrk({
      ...load,
      durationS: settings.durationS,
      scriptArgs: [randomUUID().slice(0, 8)],
    });
    const toUs = monotonicUs();
    const cpuAfter = processCpuMs(server.pid);
    const pgAfter = postgres ? processTreeCpuMs(postgres.pid) : undefined;
    window = { fromUs, toUs };
    requests = wrk.requests;
    if (wrk.non2xx3xx > 0 || wrk.requests === 0)
      throw new Error(`${target}: ${wrk.non2xx3xx} non-2xx of ${wrk.requests} responses`);
    const us = (a?: number, b?: number) =>
      a === undefined || b === undefined ? 'n/a' : (((b - a) * 1_000) / wrk.requests).toFixed(1);
    console.log(
      `${target}: ${Math.round(wrk.requestsPerSec)} req/s, p50 ${wrk.latencyMs.p50} ms, p99 ${wrk.latencyMs.p99} ms, server CPU ${us(cpuBefore, cpuAfter)} µs/req, PostgreSQL CPU ${us(pgBefore, pgAfter)} µs/req`,
    );
  } finally {
    const exit = await server.stop(15_000);
    if (exit.killed) console.warn(`  ${server.name} ignored SIGTERM and was killed (no profile)`);
  }
  if (!settings.cpuProf) return;
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`${target}: no .cpuprofile in ${profDir}`);
  const profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile;
  const text = profileReport(
    summariseProfile(profile, window ? [window] : undefined, requests),
    settings.top,
  );
  writeFileSync(path.join(scratch, 'report.txt'), text);
  console.log(text);
}

async function main(): Promise<void> {
  if (root === repoRoot) buildDist();
  mkdirSync(settings.out, { recursive: true });
  const postgres = settings.targets.includes('postgres') ? await startPostgres() : undefined;
  try {
    for (const target of settings.targets)
      await measure(target, target === 'postgres' ? postgres : undefined);
  } finally {
    await postgres?.destroy();
  }
}

await main();
