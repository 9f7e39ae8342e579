/**
 * Load-balancer picks/s: every algorithm of `src/edge/balancers` for groups of 3, 10 and 100
 * targets, each request being the proxy's full cost (`pick` → `onStart` → `onEnd`) with a
 * rotating hash key and client IP; plus the hash functions considered for the rings (keys/s) and the
 * time to build a consistent-hash ring and a Maglev table. Pure CPU, one process, no I/O: prints a
 * table and writes nothing.
 *
 *   npx tsx bench/balancers.ts
 *
 * Environment: BENCH_DURATION_MS (300 per case and round), BENCH_ROUNDS (3; the median is shown).
 */
import { createHash } from 'node:crypto';
import {
  BALANCER_NAMES,
  type Balancer,
  type PickContext,
  type Target,
} from '../src/edge/balancers/balancer.js';
import { createBalancer } from '../src/edge/balancers/create-balancer.js';
import { murmur3String } from '../src/edge/balancers/hash.js';
import { StickySessions } from '../src/edge/balancers/sticky-sessions.js';
import { seededRandom } from '../src/edge/balancers/weighted-sampler.js';
import { formatInt, textTable } from './lib/format.js';
import { formatMachine, machineInfo } from './lib/machine.js';
import { median, positiveIntFromEnv } from './lib/stats.js';

const settings = {
  durationMs: positiveIntFromEnv('BENCH_DURATION_MS', 300),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 3),
};
const SIZES = [3, 10, 100] as const;
const CONTEXTS = 4_096; // a power of two: the loop masks the index

const ns = () => process.hrtime.bigint();

/** Calls `body(i)` for i = 0, 1, … in batches until `durationMs` passed; returns calls/s. */
function rate(body: (i: number) => void, durationMs: number): number {
  const batch = 1_000;
  const end = ns() + BigInt(durationMs) * 1_000_000n;
  const start = ns();
  let calls = 0;
  let now = start;
  while (now < end) {
    for (let k = 0; k < batch; k++) body(calls + k);
    calls += batch;
    now = ns();
  }
  return calls / (Number(now - start) / 1e9);
}

type RequestLoop = (lb: Balancer, contexts: PickContext[], durationMs: number) => number;

/**
 * The request loop of one case, compiled afresh for each (`new Function`): V8 keeps type feedback
 * per function literal, so one shared loop would turn megamorphic after the first algorithms and
 * slow every later one down; a fresh copy measures each algorithm as the proxy, which uses one per
 * upstream group, would see it.
 */
function compileRequestLoop(): RequestLoop {
  return new Function(
    'lb',
    'contexts',
    'durationMs',
    `
    const outcome = { latencyMs: 4, ok: true };
    const mask = contexts.length - 1;
    const end = process.hrtime.bigint() + BigInt(durationMs) * 1000000n;
    const start = process.hrtime.bigint();
    let calls = 0;
    let now = start;
    while (now < end) {
      for (let k = 0; k < 1000; k++) {
        const target = lb.pick(contexts[(calls + k) & mask]);
        lb.onStart(target);
        lb.onEnd(target, outcome);
      }
      calls += 1000;
      now = process.hrtime.bigint();
    }
    return calls / (Number(now - start) / 1e9);
  `,
  ) as RequestLoop;
}

function targetsOf(n: number): Target[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `10.0.${i >> 8}.${i & 255}:8080`,
    address: `http://10.0.${i >> 8}.${i & 255}:8080`,
    weight: 1 + (i % 3),
  }));
}

function contextsOf(): PickContext[] {
  const random = seededRandom(1);
  return Array.from({ length: CONTEXTS }, (_, i) => ({
    hashKey: `session-${Math.floor(random() * 1e9).toString(36)}`,
    clientIp: i % 4 === 3 ? `2001:db8::${i.toString(16)}` : `198.51.${(i >> 8) & 255}.${i & 255}`,
  }));
}

interface Case {
  name: string;
  make: (targets: Target[]) => Balancer;
  /** Adds the sticky cookie of a pinned target to the contexts. */
  sticky?: boolean;
}

const cases: Case[] = [
  ...BALANCER_NAMES.map((name): Case => ({ name, make: (targets) => createBalancer(name, { targets }) })),
  {
    name: 'peak-ewma (p2c)',
    make: (targets) => createBalancer('peak-ewma', { targets, selection: 'p2c' }),
  },
  {
    name: 'sticky(round-robin), pinned',
    make: (targets) =>
      new StickySessions(createBalancer('round-robin', { targets }), { secret: 'bench-secret-0123456789' }),
    sticky: true,
  },
];

function measure(c: Case, n: number): number {
  const lb = c.make(targetsOf(n));
  let contexts = contextsOf();
  if (c.sticky && lb instanceof StickySessions) {
    // An object literal, as the proxy builds it: V8 makes a spread copy (`{ ...ctx, x }`) 10× slower
    // to read here.
    contexts = contexts.map((ctx, i) => ({
      hashKey: ctx.hashKey,
      clientIp: ctx.clientIp,
      stickyCookie: lb.cookieValue(lb.targets()[i % n]!),
    }));
  }
  const loop = compileRequestLoop();
  loop(lb, contexts, 100); // warm-up: let the JIT settle
  return median(Array.from({ length: settings.rounds }, () => loop(lb, contexts, settings.durationMs)));
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Relative standard deviation of the shares of 10 targets × 160 points on a ring placed by `hash`. */
function ringSpread(hash: (text: string) => number): number {
  const points: Array<[number, number]> = [];
  for (let t = 0; t < 10; t++) for (let v = 0; v < 160; v++) points.push([hash(`10.0.0.${t}:8080#${v}`), t]);
  points.sort((a, b) => a[0] - b[0]);
  const share = new Array<number>(10).fill(0);
  points.forEach(([h, owner], i) => {
    const previous = i === 0 ? points[points.length - 1]![0] - 2 ** 32 : points[i - 1]![0];
    share[owner]! += (h - previous) / 2 ** 32;
  });
  return Math.sqrt(share.reduce((sum, s) => sum + (s * 10 - 1) ** 2, 0) / 10);
}

function main(): void {
  console.log(`balancers: ${formatMachine(machineInfo())}`);
  console.log(
    `${settings.rounds} rounds × ${settings.durationMs} ms per case, median; a request = pick + onStart + onEnd\n`,
  );
  const rows = cases.map((c) => {
    const perSize = SIZES.map((n) => measure(c, n));
    return [c.name, ...perSize.map((r) => formatInt(r))];
  });
  console.log(
    textTable(['algorithm', ...SIZES.map((n) => `${n} targets /s`)], rows, [
      'left',
      'right',
      'right',
      'right',
    ]),
  );

  const keys = contextsOf().map((c) => c.hashKey!);
  const hashes: Array<[string, (text: string) => number]> = [
    ['murmur3 (ours)', (text) => murmur3String(text)],
    ['fnv-1a', fnv1a],
    ['node:crypto md5', (text) => createHash('md5').update(text).digest().readUInt32BE(0)],
  ];
  const hashRows = hashes.map(([name, hash]) => {
    rate((i) => hash(keys[i & (CONTEXTS - 1)]!), 100);
    const perSecond = median(
      Array.from({ length: settings.rounds }, () =>
        rate((i) => hash(keys[i & (CONTEXTS - 1)]!), settings.durationMs),
      ),
    );
    return [name, formatInt(perSecond), ringSpread(hash).toFixed(3)];
  });
  console.log(
    `\n${textTable(['hash', 'keys/s', 'ring share σ (10 × 160)'], hashRows, ['left', 'right', 'right'])}`,
  );

  const buildRows = SIZES.map((n) => {
    const time = (name: 'consistent-hash' | 'maglev') => {
      const targets = targetsOf(n);
      createBalancer(name, { targets });
      const start = performance.now();
      for (let i = 0; i < 5; i++) createBalancer(name, { targets });
      return ((performance.now() - start) / 5).toFixed(2);
    };
    return [String(n), time('consistent-hash'), time('maglev')];
  });
  console.log(
    `\n${textTable(['targets', 'ring build ms (160/weight)', 'maglev build ms (65 537)'], buildRows, ['right', 'right', 'right'])}`,
  );
}

main();
