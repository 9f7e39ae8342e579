/**
 * Rate-limit decisions/s: Groundwork's five algorithms through `RateLimiter.check` on the memory and
 * Redis drivers, side by side with rate-limiter-flexible's `RateLimiterMemory` and `RateLimiterRedis`
 * (a fixed window) configured equivalently, in one run. Redis is measured with one take in flight
 * (round-trip bound) and with 64 (pipelining across callers), and the Redis commands sent per
 * decision are counted with MONITOR. Results go to the `ratelimit` section of docs/benchmarks.md.
 *
 *   npx tsx bench/ratelimit.ts
 *
 * Environment: BENCH_DURATION_MS (1500 per case and round), BENCH_ROUNDS (5), BENCH_KEYS (10000
 * distinct keys, taken round-robin), BENCH_CONCURRENCY (64).
 */
import os from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { MemoryRateLimitStore } from '../src/ratelimit/drivers/memory-store.js';
import { RedisRateLimitStore } from '../src/ratelimit/drivers/redis-store.js';
import { RATE_LIMIT_ALGORITHMS, type RateLimitPolicy } from '../src/ratelimit/rate-limit-store.js';
import { RateLimiter } from '../src/ratelimit/rate-limiter.js';
import { type RedisServer, startRedis } from '../test/harness/redis.js';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { formatInt, formatRatio, markdownTable, textTable } from './lib/format.js';
import { formatMachine, gitRevision, machineInfo } from './lib/machine.js';
import { busyShare, systemCpuSample } from './lib/proc-cpu.js';
import { median, positiveIntFromEnv } from './lib/stats.js';

const NAME = 'ratelimit';
const settings = {
  durationMs: positiveIntFromEnv('BENCH_DURATION_MS', 1_500),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 5),
  keys: positiveIntFromEnv('BENCH_KEYS', 10_000),
  concurrency: positiveIntFromEnv('BENCH_CONCURRENCY', 64),
};
/** High enough that no key reaches it: every case measures the same allowed-decision path. */
const LIMIT = 100_000;
const WINDOW_MS = 1_000;
const keys = Array.from({ length: settings.keys }, (_, i) => `user:${i}`);

/** The same client settings for both libraries: fail fast, auto-pipelining on (ours by default). */
const clientOptions: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  enableAutoPipelining: true,
  socketTimeout: 1_000,
  connectTimeout: 1_000,
};

type Take = (key: string) => Promise<unknown>;
type Mode = 'memory' | 'redis-1' | 'redis-N';
const MODES: readonly Mode[] = ['memory', 'redis-1', 'redis-N'];

interface Case {
  name: string;
  mode: Mode;
  groundwork: boolean;
  take: Take;
}

interface Measurement {
  case: string;
  mode: Mode;
  round: number;
  decisionsPerSec: number;
  /** CPU time of this (client) process per decision, µs. */
  clientCpuUs: number;
  /** CPU time of redis-server per decision, µs (Redis cases). */
  redisCpuUs: number | undefined;
  /** Cores busy with anything but this process and redis-server during the window: interference. */
  otherCores: number;
}

async function measureCase(c: Case, round: number, concurrency: number, admin: Redis): Promise<Measurement> {
  const redis = c.mode !== 'memory';
  const redisBefore = redis ? await redisCpuSeconds(admin) : 0;
  const systemBefore = systemCpuSample();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const run = await measure(c.take, concurrency, settings.durationMs);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const busy = busyShare(systemBefore, systemCpuSample()) ?? Number.NaN;
  const redisSeconds = redis ? (await redisCpuSeconds(admin)) - redisBefore : 0;
  const clientSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    case: c.name,
    mode: c.mode,
    round,
    decisionsPerSec: run.perSec,
    clientCpuUs: (clientSeconds * 1e6) / run.count,
    redisCpuUs: redis ? (redisSeconds * 1e6) / run.count : undefined,
    otherCores: Math.max(0, busy * os.availableParallelism() - (clientSeconds + redisSeconds) / seconds),
  };
}

async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function measure(
  take: Take,
  concurrency: number,
  durationMs: number,
): Promise<{ perSec: number; count: number }> {
  let done = 0;
  let next = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      for (let i = 0; i < 64; i++) {
        await take(keys[next++ % keys.length]!);
        done++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { perSec: done / ((performance.now() - started) / 1000), count: done };
}

/** rate-limiter-flexible rejects with its result object when over the limit; count that as a decision. */
function flexible(consume: (key: string) => Promise<unknown>): Take {
  return (key) => consume(key).catch((result: unknown) => result);
}

/** Redis commands per decision, split into those a client sent (round trips) and those run by Lua. */
async function roundTrips(admin: Redis, url: string, take: Take, samples: number) {
  // monitor() opens its own connection; the base client never connects (lazyConnect).
  const base = new Redis(url, { lazyConnect: true });
  const monitor = await base.monitor();
  const fromClients = new Map<string, number>();
  let fromLua = 0;
  let recording = false;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (!recording) return;
    if (source === 'lua') fromLua++;
    else {
      const name = (args[0] ?? '?').toLowerCase();
      fromClients.set(name, (fromClients.get(name) ?? 0) + 1);
    }
  });
  await admin.ping(); // MONITOR is on once a later command shows up in it
  recording = true;
  for (let i = 0; i < samples; i++) await take(keys[i % keys.length]!);
  await admin.ping();
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the monitor stream drain
  recording = false;
  monitor.disconnect();
  base.disconnect();
  fromClients.set('ping', (fromClients.get('ping') ?? 1) - 1);
  if (fromClients.get('ping') === 0) fromClients.delete('ping');
  const total = [...fromClients.values()].reduce((a, b) => a + b, 0);
  return {
    perDecision: total / samples,
    luaCommandsPerDecision: fromLua / samples,
    commands: Object.fromEntries([...fromClients].map(([k, v]) => [k, v / samples])),
  };
}

function policyFor(algorithm: RateLimitPolicy['algorithm']): RateLimitPolicy {
  return { name: 'bench', algorithm, limit: LIMIT, windowMs: WINDOW_MS };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  let server: RedisServer | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  try {
    server = await startRedis();
    const admin = new Redis(server.url);
    closers.push(() => admin.quit());
    const ourClient = new Redis(server.url, clientOptions);
    const theirClient = new Redis(server.url, clientOptions);
    closers.push(
      async () => ourClient.disconnect(),
      async () => theirClient.disconnect(),
    );
    const redisStore = new RedisRateLimitStore({ client: ourClient, keyPrefix: 'bench:gw:' });
    await redisStore.start();
    await theirClient.ping().catch(() => new Promise((resolve) => theirClient.once('ready', resolve)));
    const memoryStore = new MemoryRateLimitStore({ maxKeys: 1_000_000 });
    closers.push(() => memoryStore.close());

    const ours = (
      store: MemoryRateLimitStore | RedisRateLimitStore,
      algorithm: RateLimitPolicy['algorithm'],
    ) => {
      const limiter = new RateLimiter({ store, policies: [policyFor(algorithm)], failMode: 'open' });
      return (key: string) => limiter.check(key);
    };
    const rlfMemory = new RateLimiterMemory({ points: LIMIT, duration: WINDOW_MS / 1000, keyPrefix: 'rlf' });
    const rlfRedis = new RateLimiterRedis({
      storeClient: theirClient,
      useRedisPackage: false,
      points: LIMIT,
      duration: WINDOW_MS / 1000,
      keyPrefix: 'bench:rlf',
    });

    const cases: Case[] = [];
    for (const mode of MODES) {
      const redis = mode !== 'memory';
      for (const algorithm of RATE_LIMIT_ALGORITHMS) {
        cases.push({
          name: algorithm,
          mode,
          groundwork: true,
          take: ours(redis ? redisStore : memoryStore, algorithm),
        });
      }
      cases.push({
        name: 'rate-limiter-flexible',
        mode,
        groundwork: false,
        take: redis ? flexible((k) => rlfRedis.consume(k)) : flexible((k) => rlfMemory.consume(k)),
      });
    }
    const concurrencyOf = (mode: Mode) => (mode === 'redis-N' ? settings.concurrency : 1);

    console.log(`warming up ${cases.length} cases…`);
    for (const c of cases) await measure(c.take, concurrencyOf(c.mode), 300);

    // Rounds × modes, each mode's six cases back to back, in an order rotated every round and
    // reversed every other one: ours and the peer are measured close in time, in both orders, and
    // compared round by round (drift on a shared machine hits both sides of each pair alike).
    const measurements: Measurement[] = [];
    for (let round = 0; round < settings.rounds; round++) {
      for (const mode of MODES) {
        const group = cases.filter((c) => c.mode === mode);
        const order = group.map((_, i) => group[(i + round) % group.length]!);
        if (round % 2 === 1) order.reverse();
        for (const c of order) {
          if (c.mode !== 'memory') await admin.flushall();
          const m = await measureCase(c, round, concurrencyOf(c.mode), admin);
          measurements.push(m);
          console.log(
            `round ${round + 1} ${c.mode.padEnd(7)} ${c.name.padEnd(24)} ${formatInt(m.decisionsPerSec).padStart(10)}/s` +
              `  client ${m.clientCpuUs.toFixed(2)} µs` +
              (m.redisCpuUs === undefined ? '' : `  redis ${m.redisCpuUs.toFixed(2)} µs`) +
              `  other load ${m.otherCores.toFixed(2)} cores`,
          );
        }
      }
    }

    const trips = new Map<string, Awaited<ReturnType<typeof roundTrips>>>();
    for (const c of cases.filter((c) => c.mode === 'redis-1')) {
      trips.set(c.name, await roundTrips(admin, server.url, c.take, 1_000));
    }
    report(cases, measurements, trips, startedAt);
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await server?.destroy();
  }
}

function report(
  cases: readonly Case[],
  measurements: readonly Measurement[],
  trips: ReadonlyMap<string, Awaited<ReturnType<typeof roundTrips>>>,
  startedAt: Date,
): void {
  const of = (name: string, mode: Mode) => measurements.filter((m) => m.case === name && m.mode === mode);
  const rate = (name: string, mode: Mode) => median(of(name, mode).map((m) => m.decisionsPerSec));
  const redisCpu = (name: string) => median(of(name, 'redis-N').map((m) => m.redisCpuUs ?? Number.NaN));
  const peer = 'rate-limiter-flexible';
  /** Per-round ratios to the peer measured in the same round (paired), for the median and range. */
  const ratios = (name: string, mode: Mode) => {
    const theirs = of(peer, mode);
    return of(name, mode).map((m, i) => m.decisionsPerSec / (theirs[i]?.decisionsPerSec ?? Number.NaN));
  };
  const ratio = (name: string, mode: Mode) => median(ratios(name, mode));
  const names = [...new Set(cases.map((c) => c.name))];
  const rows = names.map((name) => {
    const t = trips.get(name);
    return [
      name === peer ? `${peer} (fixed window)` : name,
      formatInt(rate(name, 'memory')),
      formatRatio(ratio(name, 'memory')),
      formatInt(rate(name, 'redis-1')),
      formatRatio(ratio(name, 'redis-1')),
      formatInt(rate(name, 'redis-N')),
      formatRatio(ratio(name, 'redis-N')),
      redisCpu(name).toFixed(2),
      t === undefined ? 'n/a' : `${t.perDecision.toFixed(2)} (${Object.keys(t.commands).join(', ')})`,
      t === undefined ? 'n/a' : t.luaCommandsPerDecision.toFixed(1),
    ];
  });
  const headers = [
    'limiter',
    'memory /s',
    'vs rlf',
    'Redis, 1 in flight /s',
    'vs rlf',
    `Redis, ${settings.concurrency} in flight /s`,
    'vs rlf',
    'redis-server CPU µs / decision',
    'round trips / decision',
    'Lua-side commands / decision',
  ];
  const align = ['left', ...Array<'right'>(9).fill('right')] as const;
  console.log(`\n${textTable(headers, rows, align)}\n`);

  const machine = machineInfo();
  const date = startedAt.toISOString().slice(0, 10);
  const subtitle = `${date}, ${machine.cores} cores, Node ${machine.node}, median of ${settings.rounds}`;
  for (const [mode, title] of [
    ['memory', 'In-process decisions/s (higher is better)'],
    ['redis-N', `Redis decisions/s, ${settings.concurrency} in flight (higher is better)`],
  ] as const) {
    writeBenchmarkAsset(
      `${NAME}-${mode === 'memory' ? 'memory' : 'redis'}.svg`,
      barChartSvg({
        title,
        subtitle,
        bars: names.map((name) => ({ label: name, value: rate(name, mode), highlight: name !== peer })),
      }),
    );
  }
  const command = [
    ...Object.entries(process.env)
      .filter(([key, value]) => key.startsWith('BENCH_') && value)
      .map(([key, value]) => `${key}=${value}`)
      .sort(),
    'npx tsx bench/ratelimit.ts',
  ].join(' ');
  writeBenchmarkAsset(
    `${NAME}.json`,
    `${JSON.stringify(
      {
        startedAt,
        command,
        revision: gitRevision(),
        machine,
        settings,
        measurements,
        roundTrips: Object.fromEntries(trips),
      },
      null,
      2,
    )}\n`,
  );

  const fixed = (mode: Mode) => ratio('fixed-window', mode);
  const cpu = (name: string, field: 'clientCpuUs' | 'redisCpuUs') =>
    median(of(name, 'redis-N').map((m) => m[field] ?? Number.NaN)).toFixed(2);
  const other = measurements.map((m) => m.otherCores);
  const oneTrip = [...trips.values()].every(
    (t) => t.perDecision === 1 && Object.keys(t.commands).join() === 'evalsha',
  );
  const roundRange = (mode: Mode) => {
    const r = ratios('fixed-window', mode);
    return `${formatRatio(Math.min(...r))}–${formatRatio(Math.max(...r))}`;
  };
  const perRound = (mode: Mode) =>
    names
      .map(
        (n) =>
          `${n} ${of(n, mode)
            .map((m) => formatInt(m.decisionsPerSec))
            .join(' / ')}`,
      )
      .join('; ');
  const body = `## Rate limiting: decisions/s

Groundwork's limiter (\`RateLimiter.check\`, one policy) against rate-limiter-flexible 11, in-process
and on Redis, in the same run. rate-limiter-flexible's algorithm is a fixed window, so the direct
comparison is its row against \`fixed-window\`; the other algorithms are listed against the same peer.

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${gitRevision()}\`
- **Command:** \`${command}\` from the repository root (starts a private \`redis-server\`, stops it at the end)
- **Machine:** ${formatMachine(machine)}
- **Load:** ${formatInt(settings.keys)} keys taken round-robin, one unit per decision, for ${settings.durationMs / 1000} s per case and round; ${settings.rounds} rounds, each running the six limiters of one mode back to back in an order rotated every round and reversed every other one. Rates are medians over rounds; "vs rlf" is the median of the per-round ratios to rate-limiter-flexible measured seconds apart in the same round. Other work on the machine took ${other.length > 0 ? `${Math.min(...other).toFixed(2)}–${Math.max(...other).toFixed(2)}` : 'n/a'} cores during the measured windows (all cores busy minus this process and redis-server). Policy: ${formatInt(LIMIT)} per ${WINDOW_MS / 1000} s, high enough that every decision is an allowed one (rate-limiter-flexible: \`points: ${LIMIT}, duration: ${WINDOW_MS / 1000}\`). "1 in flight" awaits each decision before the next (bound by the round trip); "${settings.concurrency} in flight" runs ${settings.concurrency} such loops at once, which ioredis auto-pipelining batches into shared writes. Both libraries get identically configured ioredis 6 clients (\`enableAutoPipelining\`, no offline queue, \`maxRetriesPerRequest: 0\`); \`redis-server\` 7.0 runs on the same ${machine.cores}-core machine.

${markdownTable(headers, rows, align)}

Per round (${settings.rounds}): in-process ${perRound('memory')}. Redis, ${settings.concurrency} in flight: ${perRound('redis-N')}.

![In-process decisions/s](benchmarks/${NAME}-memory.svg)
![Redis decisions/s with ${settings.concurrency} in flight](benchmarks/${NAME}-redis.svg)

**What the numbers mean.**

- Fixed window against rate-limiter-flexible: ${formatRatio(fixed('memory'))} in-process, ${formatRatio(fixed('redis-1'))} on Redis with one decision in flight, ${formatRatio(fixed('redis-N'))} with ${settings.concurrency} in flight (targets: ≥ 1.00× in-process, ≥ 0.90× on Redis). Round by round the ratio ranged ${roundRange('memory')} in-process, ${roundRange('redis-1')} and ${roundRange('redis-N')} on Redis: treat differences under about 10% as noise.
- Round trips per decision were counted with \`MONITOR\` over 1,000 sequential decisions per limiter: commands sent by the client, against commands run inside Lua (source \`lua\`). ${oneTrip ? 'Every limiter, all five Groundwork algorithms included, sent exactly one `EVALSHA` per decision.' : `Not every limiter sent one command per decision: ${[...trips].map(([n, t]) => `${n} ${t.perDecision.toFixed(2)}`).join(', ')}.`}
- "redis-server CPU" is the server's user + system CPU time over the ${settings.concurrency}-in-flight window divided by the decisions: what one decision costs the shared Redis, which is what limits a cluster of nodes sharing it. Fixed window: ${cpu('fixed-window', 'redisCpuUs')} µs against ${cpu(peer, 'redisCpuUs')} µs for rate-limiter-flexible; this process spent ${cpu('fixed-window', 'clientCpuUs')} µs against ${cpu(peer, 'clientCpuUs')} µs per decision. Each Groundwork policy runs its own script with its limit and window compiled in, so a decision sends only the key, \`now\` and \`cost\`; states are packed doubles (Redis's bundled \`struct\`) and the reply is one 32-byte string, because text parsing, per-call closures and a four-element array reply each cost Redis more than the commands themselves.
- With one decision in flight both libraries wait on the round trip, and the figure mostly measures how fast two idle vCPUs wake up: in rounds where other work kept the cores busy, both ran up to twice as fast. Compare the paired ratio, not the rate.
- The work differs in kind, not only in speed: a refused Groundwork take charges nothing and reports an exact \`retryAfterMs\`, where rate-limiter-flexible's fixed window increments on every call (a refused request also counts); several policies per request are one script (\`takeAll\`), all charged or none.
- The sliding-window log is the exact but costly one: its Redis state is a list plus a running sum, so it does more work per decision than the one-string algorithms; in memory it keeps one entry per ms with traffic per key.
- Memory figures are bound by one JavaScript thread; Redis figures by the round trip (1 in flight) or by \`redis-server\`'s single thread sharing ${machine.cores} cores with Node (${settings.concurrency} in flight). Absolute numbers move ±20% between runs on this machine: compare ratios from one run.
`;
  writeBenchmarkSection(NAME, body);
  console.log(
    `wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${NAME}-*.svg, docs/benchmarks/${NAME}.json`,
  );
}

await main();
