/**
 * Caching of record reads: get-by-id with the cache off, served from the memory cache, from the
 * memory cache with generations in Redis (the multi-node set-up), from Redis, and with every
 * request a miss, on SQLite and on PostgreSQL, in one run; then a hot-key expiry stampede (1000
 * concurrent clients) counting database reads with and without single flight. Results go to the
 * `cache` section of docs/benchmarks.md.
 *
 *   npx tsx bench/cache.ts            (or: npm run bench:cache)
 *
 * A private PostgreSQL and a private Redis (test/harness) are started. Per database, the first
 * server creates three collections with the same fields and BENCH_ROWS rows each — `items_off`
 * (no cache), `items_cached` (cache, 10 min TTL) and `items_miss` (cache, 1 ms TTL: every request
 * misses, is loaded and stored) — then one Groundwork process per cache set-up serves the same
 * database in turn: `memory` (embedded defaults), `memory+redis-gen` (entries in memory,
 * generations in Redis, Redis bus) and `redis` (entries and generations in Redis). Requests are
 * anonymous (public rules), ids picked at random by wrk (bench/servers/data-rest-paths.lua).
 *
 * Environment: BENCH_DURATION_S (8), BENCH_CONNECTIONS (32), BENCH_THREADS (1), BENCH_WARMUP_S
 * (2), BENCH_ROUNDS (2), BENCH_ROWS (5000), BENCH_CLIENTS (1000, stampede).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { Cache } from '../src/cache/cache.js';
import { MemoryCacheStore } from '../src/cache/drivers/memory-cache-store.js';
import { type AnyDb, Database } from '../src/db/database.js';
import { type PostgresServer, startPostgres } from '../test/harness/postgres.js';
import { type RedisServer, startRedis } from '../test/harness/redis.js';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { buildDist } from './lib/build.js';
import { formatInt, formatMs, formatRatio, markdownTable, textTable } from './lib/format.js';
import { type GroundworkNode, startGroundworkNode } from './lib/groundwork-node.js';
import { call, expectAnswer } from './lib/http.js';
import { formatMachine, gitRevision, machineInfo } from './lib/machine.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import { busyShare, processCpuMs, systemCpuSample } from './lib/proc-cpu.js';
import type { ServerProcess } from './lib/server-process.js';
import { median, positiveIntFromEnv } from './lib/stats.js';
import { runWrk, wrkBinary } from './lib/wrk.js';

const NAME = 'cache';
const pathsScript = path.join(repoRoot, 'bench', 'servers', 'data-rest-paths.lua');

const settings = {
  durationS: positiveIntFromEnv('BENCH_DURATION_S', 8),
  connections: positiveIntFromEnv('BENCH_CONNECTIONS', 32),
  threads: positiveIntFromEnv('BENCH_THREADS', 1),
  warmupS: positiveIntFromEnv('BENCH_WARMUP_S', 2),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 2),
  rows: positiveIntFromEnv('BENCH_ROWS', 5_000),
  clients: positiveIntFromEnv('BENCH_CLIENTS', 1_000),
};
const cores = machineInfo().cores;
/** Busy cores below which the machine counts as quiet enough to start a measurement. */
const QUIET_CORES = 0.25;

type Db = 'sqlite' | 'postgres';
type Setup = 'memory' | 'memory+redis-gen' | 'redis';
type Scenario = 'off' | 'hit' | 'miss';

/** What is measured, in table order: the set-up serving it, the collection read, and what it shows. */
const CASES: readonly { id: string; setup: Setup; scenario: Scenario; title: string }[] = [
  { id: 'off', setup: 'memory', scenario: 'off', title: 'cache off' },
  { id: 'memory-hit', setup: 'memory', scenario: 'hit', title: 'memory hit' },
  {
    id: 'memory-gen-hit',
    setup: 'memory+redis-gen',
    scenario: 'hit',
    title: 'memory hit, generations in Redis',
  },
  { id: 'redis-hit', setup: 'redis', scenario: 'hit', title: 'Redis hit' },
  { id: 'memory-miss', setup: 'memory', scenario: 'miss', title: 'miss (memory)' },
  { id: 'redis-miss', setup: 'redis', scenario: 'miss', title: 'miss (Redis)' },
];
const COLLECTION: Record<Scenario, string> = { off: 'items_off', hit: 'items_cached', miss: 'items_miss' };

/** No tsx loader, NODE_OPTIONS or GROUNDWORK_* from this shell in the servers: only what a case sets. */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_')),
);

function seedRow(n: number) {
  return { title: `item ${n}`, n, tag: `t${n % 20}`, done: n % 2 === 0 };
}

interface Target {
  db: Db;
  dbUrl: string | undefined;
  dataDir: string;
  adminKey: string;
  /** Ids per collection, in seed order. */
  ids: Record<string, string[]>;
  /** The get-paths file per collection for wrk. */
  pathsFile: Record<string, string>;
}

function envFor(setup: Setup, redis: RedisServer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...childEnv,
    GROUNDWORK_CACHE_KEY_PREFIX: `bench${randomUUID().slice(0, 8)}:`,
  };
  if (setup === 'memory') return env;
  return {
    ...env,
    GROUNDWORK_CACHE_DRIVER: setup === 'redis' ? 'redis' : 'memory',
    GROUNDWORK_CACHE_URL: redis.url,
    GROUNDWORK_BUS_DRIVER: 'redis',
  };
}

/** A node on the prepared data dir and database, with the cache setup's environment. */
function startGroundwork(
  target: Pick<Target, 'dbUrl'>,
  setup: Setup,
  redis: RedisServer,
  scratch: string,
): Promise<GroundworkNode> {
  return startGroundworkNode({
    name: `groundwork (${setup})`,
    scratch,
    dbUrl: target.dbUrl,
    env: envFor(setup, redis),
    logFile: `stdout-${setup}.log`,
  });
}

/** Creates the three collections and seeds them through the API of a first server. */
async function prepare(
  db: Db,
  dbUrl: string | undefined,
  scratch: string,
  redis: RedisServer,
): Promise<Target> {
  const node = await startGroundwork({ dbUrl }, 'memory', redis, scratch);
  const { server, base, dataDir } = node;
  try {
    const adminKey = node.createAdminKey();
    const admin = { authorization: `Bearer ${adminKey}` };
    const fields = [
      { name: 'title', type: 'text' },
      { name: 'n', type: 'number', integer: true },
      { name: 'tag', type: 'text' },
      { name: 'done', type: 'boolean' },
    ];
    const rules = { list: '', view: '', create: null, update: null, delete: null };
    const caches: Record<string, unknown> = {
      items_off: undefined,
      items_cached: { ttlMs: 600_000 },
      items_miss: { ttlMs: 1 },
      items_hot: { ttlMs: 600_000 },
    };
    const ids: Record<string, string[]> = {};
    const pathsFile: Record<string, string> = {};
    for (const [name, cache] of Object.entries(caches)) {
      const created = await call(base, 'POST', '/api/v1/collections', admin, {
        name,
        fields,
        rules,
        ...(cache ? { cache } : {}),
      });
      expectAnswer(`${db}: create ${name}`, created, 201);
      const rows = name === 'items_hot' ? 1 : settings.rows;
      ids[name] = [];
      for (let from = 0; from < rows; from += 100) {
        const operations = [];
        for (let n = from; n < Math.min(rows, from + 100); n++)
          operations.push({ op: 'create', collection: name, data: seedRow(n) });
        const answer = await call(base, 'POST', '/api/v1/batch', admin, { operations });
        expectAnswer(`${db}: seed ${name}`, answer, 200);
        for (const result of (answer.json as { results: { body: { id: string } }[] }).results)
          ids[name]!.push(result.body.id);
      }
      pathsFile[name] = path.join(scratch, `${name}-paths.txt`);
      writeFileSync(
        pathsFile[name]!,
        `${ids[name]!.map((id) => `/api/v1/collections/${name}/records/${id}`).join('\n')}\n`,
      );
    }
    if (dbUrl !== undefined) {
      // Fresh planner statistics now, not from autovacuum in the middle of the first window.
      const client = new pg.Client({ connectionString: dbUrl });
      await client.connect();
      await client.query('analyze');
      await client.end();
    }
    console.log(`  ${db}: 3 × ${formatInt(settings.rows)} rows (and one hot row) seeded`);
    return { db, dbUrl, dataDir, adminKey, ids, pathsFile };
  } finally {
    await server.stop();
  }
}

/** Every measured answer must be the seeded row. */
async function verify(base: string, target: Target, collection: string): Promise<void> {
  for (const n of [0, 7, settings.rows - 1]) {
    const id = target.ids[collection]![n]!;
    const answer = await call(base, 'GET', `/api/v1/collections/${collection}/records/${id}`, {});
    expectAnswer(`${target.db} ${collection} get`, answer, 200);
    const want = seedRow(n);
    // biome-ignore lint/suspicious/noExplicitAny: the answer is inspected freely
    const got = answer.json as any;
    if (
      got.id !== id ||
      got.title !== want.title ||
      got.n !== want.n ||
      got.tag !== want.tag ||
      got.done !== want.done
    )
      throw new Error(
        `${target.db} ${collection}: expected ${JSON.stringify({ id, ...want })}, got ${answer.text}`,
      );
  }
}

/** Reads every id once (so a hit scenario measures hits, not the first loads). */
async function warm(base: string, target: Target, collection: string): Promise<void> {
  const ids = target.ids[collection]!;
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const answer = await call(base, 'GET', `/api/v1/collections/${collection}/records/${id}`, {});
      expectAnswer('warm-up', answer, 200);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** `cache_<what>_total{cache="records",scope=…}` summed over its series, from /metrics. */
async function cacheCounter(base: string, what: 'hits' | 'misses' | 'loads', scope: string): Promise<number> {
  const text = (await call(base, 'GET', '/metrics', {})).text;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith(`cache_${what}_total{`) &&
      line.includes('cache="records"') &&
      line.includes(`scope="${scope}"`)
    )
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function waitForQuietMachine(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const before = systemCpuSample();
    await delay(1_000);
    if ((busyShare(before, systemCpuSample()) ?? 0) * cores <= QUIET_CORES || Date.now() > deadline) return;
  }
}

interface Measurement {
  db: Db;
  caseId: string;
  round: number;
  requestsPerSec: number;
  p50: number;
  p99: number;
  requests: number;
  serverCpuUsPerRequest: number | undefined;
  /** Cache hits and loads (database reads of the record) per request, from the server's /metrics. */
  hitsPerRequest: number;
  loadsPerRequest: number;
}

async function measure(
  base: string,
  server: ServerProcess,
  target: Target,
  caseId: string,
  scenario: Scenario,
  round: number,
): Promise<Measurement> {
  const collection = COLLECTION[scenario];
  await waitForQuietMachine();
  await verify(base, target, collection);
  const common = {
    threads: settings.threads,
    connections: settings.connections,
    url: base,
    script: pathsScript,
    scriptArgs: [target.pathsFile[collection]!],
  };
  await runWrk({ ...common, durationS: settings.warmupS });
  const hits = await cacheCounter(base, 'hits', collection);
  const loads = await cacheCounter(base, 'loads', collection);
  const cpu = processCpuMs(server.pid);
  const { raw: _raw, ...wrk } = await runWrk({ ...common, durationS: settings.durationS });
  const cpuAfter = processCpuMs(server.pid);
  if (wrk.requests === 0 || wrk.non2xx3xx > 0)
    throw new Error(`${target.db} ${caseId}: ${wrk.non2xx3xx} non-2xx of ${wrk.requests}`);
  const hitsAfter = await cacheCounter(base, 'hits', collection);
  const loadsAfter = await cacheCounter(base, 'loads', collection);
  await verify(base, target, collection);
  return {
    db: target.db,
    caseId,
    round,
    requestsPerSec: wrk.requestsPerSec,
    p50: wrk.latencyMs.p50,
    p99: wrk.latencyMs.p99,
    requests: wrk.requests,
    serverCpuUsPerRequest:
      cpu === undefined || cpuAfter === undefined ? undefined : ((cpuAfter - cpu) * 1_000) / wrk.requests,
    // The counters include requests in flight at the window's edges: ratios, not exact counts.
    hitsPerRequest: (hitsAfter - hits) / wrk.requests,
    loadsPerRequest: (loadsAfter - loads) / wrk.requests,
  };
}

// ---------------------------------------------------------------------------------------------
// Stampede: a hot key expires while many clients want it.

interface Stampede {
  db: Db;
  mode: string;
  clients: number;
  databaseReads: number;
  wallMs: number;
  p99Ms: number;
}

/**
 * In process, against the real database (the seeded `items_hot` row) and the real `Cache`: the
 * key has just expired (it is absent) and `clients` concurrent readers want it. With single
 * flight: `getOrLoad`. Without: the textbook cache-aside (`get`, on a miss load and `set`).
 */
async function stampede(target: Target, dbUrl: string): Promise<Stampede[]> {
  const database = new Database({ url: dbUrl, poolMax: 10 });
  await database.start();
  const id = target.ids.items_hot![0]!;
  let reads = 0;
  const stop = database.observeQueries((q) => {
    if (q.sql.includes('"items_hot"')) reads++;
  });
  const db = database.kysely as Kysely<AnyDb>;
  const load = () => db.selectFrom('items_hot').selectAll().where('id', '=', id).executeTakeFirst();
  const results: Stampede[] = [];
  try {
    for (const mode of ['without single flight', 'with single flight'] as const) {
      const cache = new Cache({
        name: `stampede-${mode.length}`,
        store: new MemoryCacheStore({ sweepIntervalMs: 0 }),
      });
      reads = 0;
      const key = `hot:${id}`;
      const started = performance.now();
      const latencies = await Promise.all(
        Array.from({ length: settings.clients }, async () => {
          const t0 = performance.now();
          if (mode === 'with single flight') {
            await cache.getOrLoad(key, load, { ttlMs: 60_000 });
          } else {
            let value = await cache.get(key);
            if (value === undefined) {
              value = await load();
              await cache.set(key, value, 60_000);
            }
          }
          return performance.now() - t0;
        }),
      );
      const wallMs = performance.now() - started;
      latencies.sort((a, b) => a - b);
      results.push({
        db: target.db,
        mode,
        clients: settings.clients,
        databaseReads: reads,
        wallMs,
        p99Ms: latencies[Math.floor(latencies.length * 0.99)]!,
      });
      await cache.close();
    }
  } finally {
    stop();
    await database.close();
  }
  return results;
}

/** The same over HTTP against a running server: its hot key just expired (waited out), N concurrent GETs. */
async function httpStampede(base: string, target: Target): Promise<{ loads: number; clients: number }> {
  const id = target.ids.items_hot![0]!;
  const url = `/api/v1/collections/items_hot/records/${id}`;
  // Dropping the entry: a write bumps the collection's generation (as an expiry would end it).
  const admin = { authorization: `Bearer ${target.adminKey}` };
  expectAnswer('hot key write', await call(base, 'PATCH', url, admin, { title: 'item 0' }), 200);
  const before = await cacheCounter(base, 'loads', 'items_hot');
  const answers = await Promise.all(
    Array.from({ length: settings.clients }, () => call(base, 'GET', url, {})),
  );
  for (const answer of answers) expectAnswer('hot key read', answer, 200);
  return { loads: (await cacheCounter(base, 'loads', 'items_hot')) - before, clients: settings.clients };
}

// ---------------------------------------------------------------------------------------------

function commandLine(): string {
  const overrides = Object.entries(process.env)
    .filter(([key, value]) => key.startsWith('BENCH_') && value)
    .map(([key, value]) => `${key}=${value}`)
    .sort();
  return [...overrides, `npx tsx bench/${NAME}.ts`].join(' ');
}

interface Summary {
  db: Db;
  caseId: string;
  title: string;
  requestsPerSec: number;
  p50: number;
  p99: number;
  serverCpuUsPerRequest: number | undefined;
  hitsPerRequest: number;
  loadsPerRequest: number;
}

function summarise(all: readonly Measurement[]): Summary[] {
  return (['sqlite', 'postgres'] as const).flatMap((db) =>
    CASES.map((c) => {
      const mine = all.filter((m) => m.db === db && m.caseId === c.id);
      const cpu = mine.flatMap((m) =>
        m.serverCpuUsPerRequest === undefined ? [] : [m.serverCpuUsPerRequest],
      );
      return {
        db,
        caseId: c.id,
        title: c.title,
        requestsPerSec: median(mine.map((m) => m.requestsPerSec)),
        p50: median(mine.map((m) => m.p50)),
        p99: median(mine.map((m) => m.p99)),
        serverCpuUsPerRequest: cpu.length > 0 ? median(cpu) : undefined,
        hitsPerRequest: median(mine.map((m) => m.hitsPerRequest)),
        loadsPerRequest: median(mine.map((m) => m.loadsPerRequest)),
      };
    }),
  );
}

function report(
  summaries: readonly Summary[],
  stampedes: readonly Stampede[],
  http: readonly { db: Db; loads: number; clients: number }[],
  measurements: readonly Measurement[],
  startedAt: Date,
): void {
  const machine = machineInfo();
  const offOf = (db: Db) => summaries.find((s) => s.db === db && s.caseId === 'off')!;
  const headers = [
    'database',
    'read',
    'req/s',
    'vs cache off',
    'p50 ms',
    'p99 ms',
    'server CPU µs/req',
    'hits/req',
    'DB reads/req',
  ];
  const align = ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] as const;
  const rows = summaries.map((s) => [
    s.db,
    s.title,
    formatInt(s.requestsPerSec),
    formatRatio(s.requestsPerSec / offOf(s.db).requestsPerSec),
    formatMs(s.p50),
    formatMs(s.p99),
    s.serverCpuUsPerRequest === undefined ? 'n/a' : s.serverCpuUsPerRequest.toFixed(0),
    s.caseId === 'off' ? '—' : s.hitsPerRequest.toFixed(2),
    s.caseId === 'off' ? '1 (uncached)' : s.loadsPerRequest.toFixed(2),
  ]);
  const stampedeHeaders = [
    'database',
    'clients',
    'cache-aside',
    'database reads',
    'all served in ms',
    'p99 ms',
  ];
  const stampedeRows = stampedes.map((s) => [
    s.db,
    formatInt(s.clients),
    s.mode,
    formatInt(s.databaseReads),
    formatMs(s.wallMs),
    formatMs(s.p99Ms),
  ]);
  console.log(`\n${textTable(headers, rows, align)}\n\n${textTable(stampedeHeaders, stampedeRows)}\n`);
  for (const h of http)
    console.log(`  HTTP stampede ${h.db}: ${h.clients} concurrent GETs → ${h.loads} load(s)`);

  const date = startedAt.toISOString().slice(0, 10);
  writeBenchmarkAsset(
    `${NAME}.svg`,
    barChartSvg({
      title: `Get by id: requests/s by cache set-up (median of ${settings.rounds}, higher is better)`,
      subtitle: `wrk -c${settings.connections} -d${settings.durationS}s · ${formatInt(settings.rows)} rows · ${date} · ${machine.cores} cores`,
      bars: summaries.map((s) => ({
        label: `${s.db === 'sqlite' ? 'SQLite' : 'PG'} · ${s.caseId}`,
        value: s.requestsPerSec,
        highlight: s.caseId !== 'off',
      })),
      width: 760,
    }),
  );
  writeBenchmarkAsset(
    `${NAME}.json`,
    `${JSON.stringify({ startedAt, command: commandLine(), revision: gitRevision(), machine, settings, measurements, stampedes, http }, null, 2)}\n`,
  );
  const ratio = (db: Db, id: string) => {
    const s = summaries.find((x) => x.db === db && x.caseId === id)!;
    return formatRatio(s.requestsPerSec / offOf(db).requestsPerSec);
  };
  const body = `## Record cache: get by id, cache off / memory / Redis / miss; hot-key stampede

Cache-aside of record reads (issue 6, \`src/data/cache\`): the same get-by-id on the same data,
served with the collection's cache off, from each cache set-up, and with every request a miss, on
SQLite and on PostgreSQL in one run; then what a hot key's expiry costs the database with and without
single flight.

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${gitRevision()}\` (\`dist/\` build)
- **Command:** \`${commandLine()}\` from the repository root
- **Machine:** ${formatMachine(machine)}
- **Data:** per database, collections \`items_off\` (no \`cache\`), \`items_cached\` (\`cache: { ttlMs: 600000 }\`) and \`items_miss\` (\`cache: { ttlMs: 1 }\`: every read misses, loads and stores), each with \`title\`, \`n\`, \`tag\`, \`done\` and ${formatInt(settings.rows)} rows, public rules (\`""\`), read anonymously; consistency \`strong\` (the default).
- **Set-ups** (one \`node bin/groundwork.js start --log-level warn\` at a time on the same database): *memory*: the embedded defaults (entries and generations in process); *memory, generations in Redis*: \`GROUNDWORK_CACHE_URL\` + \`GROUNDWORK_BUS_DRIVER=redis\` (how several nodes run: each cached read also reads its generation from Redis); *Redis*: \`GROUNDWORK_CACHE_DRIVER=redis\` (entries and generations in Redis). Redis 7 and PostgreSQL 15 are private instances from the test harness on loopback (PostgreSQL with \`fsync=off\`).
- **Load:** \`wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency\` after a ${settings.warmupS} s warm-up, ids at random from all rows ([\`data-rest-paths.lua\`](../bench/servers/data-rest-paths.lua)); before a hit case every id is read once. ${settings.rounds} round(s); medians. wrk, the server, Redis and PostgreSQL share the machine's ${cores} cores. Before and after each window three reads must return exactly the seeded rows, and wrk must see only 2xx.
- **hits/req, DB reads/req:** from the server's own \`/metrics\` (\`cache_hits_total\`, \`cache_loads_total\` for the collection) over the window: a hit case with hits/req ≈ 1 and DB reads ≈ 0 measured the cache, not the database.

${markdownTable(headers, rows, align)}

![Get by id requests/s by cache set-up](benchmarks/${NAME}.svg)

**Ratios to the cache off, same database:** SQLite — memory hit ${ratio('sqlite', 'memory-hit')}, memory hit with Redis generations ${ratio('sqlite', 'memory-gen-hit')}, Redis hit ${ratio('sqlite', 'redis-hit')}, miss ${ratio('sqlite', 'memory-miss')} (memory) / ${ratio('sqlite', 'redis-miss')} (Redis); PostgreSQL — memory hit ${ratio('postgres', 'memory-hit')}, memory hit with Redis generations ${ratio('postgres', 'memory-gen-hit')}, Redis hit ${ratio('postgres', 'redis-hit')}, miss ${ratio('postgres', 'memory-miss')} (memory) / ${ratio('postgres', 'redis-miss')} (Redis).

**Hot-key expiry stampede** (${formatInt(settings.clients)} concurrent clients want one key that has just expired): in process against the real database row and the real \`Cache\` with a memory store — *without single flight* is the textbook cache-aside (\`get\`; on a miss load from the database and \`set\`), *with single flight* is \`getOrLoad\`. "database reads" counts the statements that reached the database (Kysely's query observer).

${markdownTable(stampedeHeaders, stampedeRows, ['left', 'right', 'left', 'right', 'right', 'right'])}

Over HTTP, the server (single flight is always on) answered ${http.map((h) => `${formatInt(h.clients)} concurrent GETs of a just-invalidated key with ${h.loads} load(s) on ${h.db === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`).join(' and ')} (\`cache_loads_total\`; memory set-up).

**Reading the numbers.**

- A hit still runs the whole request path (HTTP, gateway, rules analysis, key hashing, JSON of the body); what it saves is the database round trip and the row decoding. With SQLite in process that saving is small; over PostgreSQL it is the network round trip and the backend's work.
- *Memory hit, generations in Redis* pays one Redis round trip per read (the generation check that makes a write on another node visible at once); \`consistency: "eventual"\` skips it (see docs/architecture.md, "Caching record reads").
- A miss does the work of an uncached read plus the generation read, the lookup and the store (compare "server CPU µs/req" with the cache off).
- p50/p99 are at saturation with ${settings.connections} connections, so mostly queueing. Absolute numbers vary ±20% between runs: compare ratios within one run. When other work shares the machine (the load average above), req/s moves most; "server CPU µs/req" (the server process's CPU time over the window divided by its requests) is the steadier figure.
`;
  writeBenchmarkSection(NAME, body);
  console.log(
    `wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${NAME}.svg, docs/benchmarks/${NAME}.json`,
  );
}

async function main(): Promise<void> {
  wrkBinary();
  buildDist();
  const startedAt = new Date();
  const scratchRoot = path.join(benchTmpRoot, `${NAME}-${process.pid}`);
  mkdirSync(scratchRoot, { recursive: true });
  const measurements: Measurement[] = [];
  const stampedes: Stampede[] = [];
  const http: { db: Db; loads: number; clients: number }[] = [];
  let postgres: PostgresServer | undefined;
  let redis: RedisServer | undefined;
  console.log(
    `${NAME}: ${CASES.length} cases × sqlite, postgres × ${settings.rounds} round(s), wrk -c${settings.connections} -d${settings.durationS}s, ${settings.rows} rows`,
  );
  try {
    postgres = await startPostgres();
    redis = await startRedis();
    for (const db of ['sqlite', 'postgres'] as const) {
      const scratch = path.join(scratchRoot, db);
      mkdirSync(scratch, { recursive: true });
      const dbUrl = db === 'postgres' ? await postgres.createDatabase('cache') : undefined;
      const target = await prepare(db, dbUrl, scratch, redis);
      for (let round = 1; round <= settings.rounds; round++) {
        for (const setup of ['memory', 'memory+redis-gen', 'redis'] as const) {
          const { server, base } = await startGroundwork(target, setup, redis, scratch);
          try {
            await warm(base, target, COLLECTION.hit);
            for (const c of CASES.filter((x) => x.setup === setup)) {
              const m = await measure(base, server, target, c.id, c.scenario, round);
              measurements.push(m);
              console.log(
                `  ${db.padEnd(8)} round ${round} ${c.id.padEnd(15)} ${formatInt(m.requestsPerSec).padStart(7)} req/s  p50 ${formatMs(m.p50)} ms  p99 ${formatMs(m.p99)} ms  hits/req ${m.hitsPerRequest.toFixed(2)}  loads/req ${m.loadsPerRequest.toFixed(2)}`,
              );
            }
            if (setup === 'memory' && round === 1) http.push({ db, ...(await httpStampede(base, target)) });
          } finally {
            await server.stop();
          }
        }
      }
      const stampedeUrl = dbUrl ?? `sqlite://${path.join(target.dataDir, 'groundwork.db')}`;
      stampedes.push(...(await stampede(target, stampedeUrl)));
    }
  } finally {
    await redis?.destroy();
    await postgres?.destroy();
    rmSync(scratchRoot, { recursive: true, force: true });
    try {
      rmdirSync(benchTmpRoot);
    } catch {
      // another benchmark's scratch dir is in it
    }
  }
  report(summarise(measurements), stampedes, http, measurements, startedAt);
}

await main();
