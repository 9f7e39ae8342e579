/**
 * Auth: sign-in/s, which the password hash dominates, and what authenticating a request costs —
 * get-by-id with no credentials against the same get with a JWT access token, a user API key and a
 * session cookie — on Groundwork over SQLite and over PostgreSQL, in one run; plus the raw scrypt
 * rate in this process, so the sign-in figure can be read against the hash alone. Results go to the
 * `auth` section of docs/benchmarks.md (issue 4, "bench/auth").
 *
 *   npx tsx bench/auth.ts            (npm run bench:auth)
 *
 * Each target is started once from `dist/` and set up through the API: an auth collection `users`
 * with BENCH_USERS users (signed up, then signed in once for tokens and once for a cookie session,
 * and given an API key), and two collections of BENCH_ROWS identical rows that differ only in their
 * view rule: `items` (`""`, anyone) and `items_users` (`@auth.id != null`, signed-in users only).
 * Then every operation is measured on every target, interleaved, for BENCH_ROUNDS rounds.
 *
 * Environment: BENCH_DURATION_S (10), BENCH_CONNECTIONS (64, gets), BENCH_SIGNIN_CONNECTIONS (8),
 * BENCH_THREADS (1, wrk threads), BENCH_WARMUP_S (2), BENCH_ROUNDS (3), BENCH_ROWS (10000),
 * BENCH_USERS (64, at least twice the sign-in connections), BENCH_HASH_S (3, longest time per
 * in-process case and round: scrypt, access-token verification), BENCH_ATTEMPTS (2, per window
 * disturbed by other work), BENCH_QUIET_WAIT_S (120, longest wait before each measurement for other
 * work on the machine to stop), BENCH_TARGETS and BENCH_OPS (comma lists, for trying one part; a
 * partial run prints its table but does not write docs/).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { hashPassword, SCRYPT_PARAMS, verifyPassword } from '../src/auth/passwords.js';
import { AccessTokens } from '../src/auth/tokens/access-tokens.js';
import { jwkThumbprint, SigningKey } from '../src/auth/tokens/signing-keys.js';
import { createDatabaseAt, type PostgresServer, startPostgres } from '../test/harness/postgres.js';
import { barChartSvg } from './lib/bar-chart-svg.js';
import { writeBenchmarkAsset, writeBenchmarkSection } from './lib/benchmarks-doc.js';
import { buildDist } from './lib/build.js';
import { formatInt, formatMs, formatRatio, markdownTable, textTable } from './lib/format.js';
import { startGroundworkNode } from './lib/groundwork-node.js';
import { call, expectAnswer } from './lib/http.js';
import { formatMachine, gitRevision, machineInfo } from './lib/machine.js';
import { benchTmpRoot, repoRoot } from './lib/paths.js';
import {
  busyShare,
  cpuDelta,
  processCpuMs,
  processTreeCpuMs,
  reapedChildrenCpuMs,
  systemCpuSample,
} from './lib/proc-cpu.js';
import type { ServerProcess } from './lib/server-process.js';
import { median, positiveIntFromEnv } from './lib/stats.js';
import { runWrk, type WrkOptions, type WrkResult, wrkBinary } from './lib/wrk.js';

const NAME = 'auth';
const USERS = 'users';
/** View rule `""`: anyone. */
const PUBLIC_ITEMS = 'items';
/** View rule `@auth.id != null`: true for any signed-in caller, false for an anonymous one. */
const USER_ITEMS = 'items_users';
const USER_RULE = '@auth.id != null';
const PASSWORD = 'bench password 0';
/** A user outside the sign-in rotation, for the wrong-password check (so no rotated account counts a failure). */
const CANARY_EMAIL = 'canary@bench.example';
const SESSION_COOKIE = 'gw_session';
const getScript = path.join(repoRoot, 'bench', 'servers', 'auth-get.lua');
const signInScript = path.join(repoRoot, 'bench', 'servers', 'auth-sign-in.lua');

const OPS = ['sign-in', 'get-public', 'get-jwt', 'get-key', 'get-cookie'] as const;
type Op = (typeof OPS)[number];
type GetOp = Exclude<Op, 'sign-in'>;
const GET_OPS: readonly GetOp[] = ['get-public', 'get-jwt', 'get-key', 'get-cookie'];
/** The gets that need a credential, measured against `get-public`. */
const AUTH_OPS = ['get-jwt', 'get-key', 'get-cookie'] as const;
type AuthOp = (typeof AUTH_OPS)[number];
const TARGET_NAMES = ['groundwork-sqlite', 'groundwork-postgres'] as const;
type TargetName = (typeof TARGET_NAMES)[number];

const settings = {
  durationS: positiveIntFromEnv('BENCH_DURATION_S', 10),
  connections: positiveIntFromEnv('BENCH_CONNECTIONS', 64),
  signInConnections: positiveIntFromEnv('BENCH_SIGNIN_CONNECTIONS', 8),
  threads: positiveIntFromEnv('BENCH_THREADS', 1),
  warmupS: positiveIntFromEnv('BENCH_WARMUP_S', 2),
  rounds: positiveIntFromEnv('BENCH_ROUNDS', 3),
  rows: positiveIntFromEnv('BENCH_ROWS', 10_000),
  users: positiveIntFromEnv('BENCH_USERS', 64),
  hashS: positiveIntFromEnv('BENCH_HASH_S', 3),
  attempts: positiveIntFromEnv('BENCH_ATTEMPTS', 2),
  quietWaitS: positiveIntFromEnv('BENCH_QUIET_WAIT_S', 120),
  targets: listFromEnv('BENCH_TARGETS', TARGET_NAMES),
  ops: listFromEnv('BENCH_OPS', OPS),
};
if (settings.users < 2 * settings.signInConnections) {
  // Fewer users than that and the round-robin sign-ins would have one account in flight on several
  // connections at once: the guard's per-account count, not the hash, would start to limit.
  throw new Error('BENCH_USERS must be at least twice BENCH_SIGNIN_CONNECTIONS');
}
if (settings.rows < 3) throw new Error('BENCH_ROWS must be at least 3');
const complete = settings.targets.length === TARGET_NAMES.length && settings.ops.length === OPS.length;
/**
 * Cores' worth of CPU that neither the server, PostgreSQL nor wrk (nor, for the in-process hash,
 * this process) used during a measured window, above which the window counts as disturbed by
 * other work on the machine and is measured again.
 */
const OTHER_CORES_LIMIT = 0.15;
/** Busy cores below which the machine counts as quiet enough to start a measurement. */
const QUIET_CORES = 0.25;
const cores = machineInfo().cores;
/** The libuv pool scrypt runs on, in the servers (same environment) and in this process. */
const threadPool = process.env.UV_THREADPOOL_SIZE?.trim() || '4 (libuv default)';

function listFromEnv<T extends string>(name: string, all: readonly T[]): readonly T[] {
  const raw = process.env[name]?.trim();
  if (!raw) return all;
  const picked = raw.split(',').map((s) => s.trim());
  for (const item of picked) {
    if (!all.includes(item as T)) throw new Error(`${name}: unknown ${item}; known: ${all.join(', ')}`);
  }
  return all.filter((item) => picked.includes(item));
}

/**
 * Every server is started the same way (`node bin/groundwork.js`, no tsx loader, no NODE_OPTIONS,
 * no GROUNDWORK_* or PG* variables), so only the database differs between targets.
 */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('GROUNDWORK_') && !key.startsWith('PG'),
  ),
);
const authPath = `/api/v1/collections/${USERS}/auth`;
const recordPath = (collection: string, id: string) =>
  `/api/v1/collections/${collection}/records/${encodeURIComponent(id)}`;

/** A seeded row: n is its seed index, so the expected content of any row follows from n alone. */
function seedRow(n: number): { title: string; n: number } {
  return { title: `item ${n}`, n };
}

function userEmail(i: number): string {
  return `user${i}@bench.example`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

function field(value: unknown, ...keys: string[]): unknown {
  let at = value;
  for (const key of keys) at = (at as Record<string, unknown> | null | undefined)?.[key];
  return at;
}

function stringField(what: string, value: unknown, ...keys: string[]): string {
  const found = field(value, ...keys);
  if (typeof found !== 'string' || found === '') {
    throw new Error(`${what}: no ${keys.join('.')} in ${JSON.stringify(value)?.slice(0, 300)}`);
  }
  return found;
}

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------
// Targets: start, create the collections, seed rows and users, collect credentials

interface BenchUser {
  email: string;
  id: string;
  accessToken: string;
  refreshToken: string;
  /** `gw_session=<secret>`, as a browser sends it back. */
  cookie: string;
  /** A user API key scoped to `items_users:view`. */
  apiKey: string;
}

interface Running {
  name: TargetName;
  server: ServerProcess;
  base: string;
  adminHeaders: Readonly<Record<string, string>>;
  /** Record ids in seed order, per collection: element n is the row with n = n. */
  ids: Readonly<Record<typeof PUBLIC_ITEMS | typeof USER_ITEMS, readonly string[]>>;
  users: BenchUser[];
  files: {
    publicPaths: string;
    userPaths: string;
    signInBodies: string;
    /** Rewritten with fresh access tokens before every get-jwt window. */
    jwt: string;
    key: string;
    cookie: string;
  };
  /** The PostgreSQL database the target uses; undefined on SQLite. */
  pgDatabase: string | undefined;
  close(): Promise<void>;
}

async function startGroundwork(
  name: TargetName,
  scratch: string,
  dbUrl: string | undefined,
): Promise<Running> {
  // The scratch dir as cwd keeps a groundwork.config.* in the repository out of the run: every
  // auth setting is its default (access tokens live 15 min; they are refreshed before each window).
  const node = await startGroundworkNode({ name, scratch, dbUrl, env: childEnv });
  const { server, base } = node;
  try {
    const adminKey = node.createAdminKey();
    const admin = { authorization: `Bearer ${adminKey}` };
    const usersCreated = await call(base, 'POST', '/api/v1/collections', admin, {
      name: USERS,
      type: 'auth',
      fields: [],
      // Sign-up open to anyone; the user records themselves admins only (not read here).
      rules: { list: null, view: null, create: '', update: null, delete: null },
    });
    expectAnswer(`${name}: POST /api/v1/collections (${USERS})`, usersCreated, 201);
    for (const [collection, view] of [
      [PUBLIC_ITEMS, ''],
      [USER_ITEMS, USER_RULE],
    ] as const) {
      const created = await call(base, 'POST', '/api/v1/collections', admin, {
        name: collection,
        fields: [
          { name: 'title', type: 'text' },
          { name: 'n', type: 'number', integer: true },
        ],
        rules: { list: null, view, create: null, update: null, delete: null },
      });
      expectAnswer(`${name}: POST /api/v1/collections (${collection})`, created, 201);
    }
    const ids = {
      [PUBLIC_ITEMS]: await seedRows(name, base, admin, PUBLIC_ITEMS),
      [USER_ITEMS]: await seedRows(name, base, admin, USER_ITEMS),
    };
    const users = await seedUsers(name, base);
    const files = {
      publicPaths: path.join(scratch, 'public-paths.txt'),
      userPaths: path.join(scratch, 'user-paths.txt'),
      signInBodies: path.join(scratch, 'sign-in-bodies.txt'),
      jwt: path.join(scratch, 'credentials-jwt.txt'),
      key: path.join(scratch, 'credentials-key.txt'),
      cookie: path.join(scratch, 'credentials-cookie.txt'),
    };
    const lines = (items: readonly string[]) => `${items.join('\n')}\n`;
    writeFileSync(files.publicPaths, lines(ids[PUBLIC_ITEMS].map((id) => recordPath(PUBLIC_ITEMS, id))));
    writeFileSync(files.userPaths, lines(ids[USER_ITEMS].map((id) => recordPath(USER_ITEMS, id))));
    writeFileSync(
      files.signInBodies,
      lines(users.map((u) => JSON.stringify({ email: u.email, password: PASSWORD }))),
    );
    const running: Running = {
      name,
      server,
      base,
      adminHeaders: admin,
      ids,
      users,
      files,
      pgDatabase: dbUrl === undefined ? undefined : new URL(dbUrl).pathname.slice(1),
      close: () => stopServer(server),
    };
    writeCredentials(running);
    return running;
  } catch (error) {
    await stopServer(server);
    throw error;
  }
}

/** Seeds rows 0…BENCH_ROWS-1 in batches of 100 and returns their ids in seed order. */
async function seedRows(
  name: TargetName,
  base: string,
  admin: Readonly<Record<string, string>>,
  collection: string,
): Promise<string[]> {
  const started = performance.now();
  const ids: string[] = new Array(settings.rows);
  const batches = Array.from({ length: Math.ceil(settings.rows / 100) }, (_, i) => i * 100);
  await inParallel(batches, 3, async (from) => {
    const to = Math.min(settings.rows, from + 100);
    const operations = [];
    for (let n = from; n < to; n++) operations.push({ op: 'create', collection, data: seedRow(n) });
    const answer = await call(base, 'POST', '/api/v1/batch', admin, { operations });
    expectAnswer(`${name}: POST /api/v1/batch (${collection})`, answer, 200);
    const results = field(answer.json, 'results');
    if (!Array.isArray(results) || results.length !== to - from) {
      throw new Error(`${name}: batch answered ${answer.text.slice(0, 300)}`);
    }
    results.forEach((result, i) => {
      if (field(result, 'status') !== 201) throw new Error(`${name}: batch item ${JSON.stringify(result)}`);
      ids[from + i] = stringField(`${name}: batch item`, result, 'body', 'id');
    });
  });
  if (new Set(ids).size !== settings.rows) throw new Error(`${name}: ${collection} ids are not all distinct`);
  console.log(
    `  ${name}: seeded ${formatInt(settings.rows)} rows into ${collection} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return ids;
}

/**
 * Signs up BENCH_USERS users and the canary, then per user: a token sign-in (access and refresh
 * token), a cookie sign-in (session) and an API key created with the access token.
 */
async function seedUsers(name: TargetName, base: string): Promise<BenchUser[]> {
  const started = performance.now();
  const emails = [...Array.from({ length: settings.users }, (_, i) => userEmail(i)), CANARY_EMAIL];
  // Four at a time: each sign-up and sign-in is one scrypt on the server's thread pool.
  await inParallel(emails, 4, async (email) => {
    const up = await call(base, 'POST', `${authPath}/sign-up`, {}, { email, password: PASSWORD });
    expectAnswer(`${name}: sign-up ${email}`, up, 202);
  });
  const users: BenchUser[] = new Array(settings.users);
  await inParallel(emails.slice(0, settings.users), 4, async (email, i) => {
    const tokens = await call(base, 'POST', `${authPath}/sign-in`, {}, { email, password: PASSWORD });
    expectAnswer(`${name}: sign-in ${email}`, tokens, 200);
    const accessToken = stringField(`${name}: sign-in ${email}`, tokens.json, 'access_token');
    const session = await call(
      base,
      'POST',
      `${authPath}/sign-in`,
      {},
      { email, password: PASSWORD, session: 'cookie' },
    );
    expectAnswer(`${name}: cookie sign-in ${email}`, session, 200);
    const cookie = session.setCookie?.split(';')[0]?.trim() ?? '';
    if (!cookie.startsWith(`${SESSION_COOKIE}=`) || cookie.length <= SESSION_COOKIE.length + 1) {
      throw new Error(
        `${name}: cookie sign-in ${email} set no ${SESSION_COOKIE} cookie: ${session.setCookie}`,
      );
    }
    const key = await call(
      base,
      'POST',
      `${authPath}/keys`,
      { authorization: `Bearer ${accessToken}` },
      { name: 'bench', scopes: [`${USER_ITEMS}:view`] },
    );
    expectAnswer(`${name}: API key for ${email}`, key, 201);
    users[i] = {
      email,
      id: stringField(`${name}: sign-in ${email}`, tokens.json, 'user', 'id'),
      accessToken,
      refreshToken: stringField(`${name}: sign-in ${email}`, tokens.json, 'refresh_token'),
      cookie,
      apiKey: stringField(`${name}: API key for ${email}`, key.json, 'key'),
    };
  });
  console.log(
    `  ${name}: ${settings.users} users signed up and in (tokens, cookie, API key) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return users;
}

/** The credential header each authenticated get sends for user `u`, as `[name, value]`. */
function credentialOf(op: AuthOp, u: BenchUser): [string, string] {
  if (op === 'get-jwt') return ['Authorization', `Bearer ${u.accessToken}`];
  if (op === 'get-key') return ['Authorization', `Bearer ${u.apiKey}`];
  return ['Cookie', u.cookie];
}

function credentialsFile(run: Running, op: AuthOp): string {
  return op === 'get-jwt' ? run.files.jwt : op === 'get-key' ? run.files.key : run.files.cookie;
}

function writeCredentials(run: Running): void {
  for (const op of AUTH_OPS) {
    const lines = run.users.map((u) => credentialOf(op, u).join(': '));
    writeFileSync(credentialsFile(run, op), `${lines.join('\n')}\n`);
  }
}

/**
 * Rotates every user's refresh token for a fresh access token (15 min by default), so the tokens
 * wrk sends are valid for the whole window without raising their lifetime in the config.
 */
async function refreshAccessTokens(run: Running): Promise<void> {
  const longestUseS = settings.quietWaitS + settings.warmupS + settings.durationS + 60;
  await inParallel(run.users, 4, async (u) => {
    const answer = await call(run.base, 'POST', `${authPath}/refresh`, {}, { refresh_token: u.refreshToken });
    expectAnswer(`${run.name}: refresh ${u.email}`, answer, 200);
    const expiresIn = field(answer.json, 'expires_in');
    if (typeof expiresIn !== 'number' || expiresIn < longestUseS) {
      throw new Error(
        `${run.name}: access tokens live ${expiresIn} s, less than the ${longestUseS} s one window may need`,
      );
    }
    u.accessToken = stringField(`${run.name}: refresh`, answer.json, 'access_token');
    u.refreshToken = stringField(`${run.name}: refresh`, answer.json, 'refresh_token');
  });
  writeCredentials(run);
}

async function stopServer(server: ServerProcess): Promise<void> {
  const exit = await server.stop();
  if (exit.killed) console.warn(`  ${server.name} ignored SIGTERM and was killed`);
}

// ---------------------------------------------------------------------------------------------
// Checks: each operation must answer correctly before and after it is measured

const DENIED = new Set([401, 403, 404]);

async function verify(run: Running, op: Op): Promise<void> {
  const { name } = run;
  if (op === 'sign-in') {
    const u = run.users[0]!;
    const answer = await call(
      run.base,
      'POST',
      `${authPath}/sign-in`,
      {},
      { email: u.email, password: PASSWORD },
    );
    expectAnswer(`${name}: sign-in ${u.email}`, answer, 200);
    if (field(answer.json, 'user', 'id') !== u.id) {
      throw new Error(`${name}: sign-in ${u.email} answered another user: ${answer.text.slice(0, 300)}`);
    }
    const token = stringField(`${name}: sign-in`, answer.json, 'access_token');
    const me = await call(run.base, 'GET', `${authPath}/me`, { authorization: `Bearer ${token}` });
    expectAnswer(`${name}: me with the new access token`, me, 200);
    if (field(me.json, 'user', 'id') !== u.id)
      throw new Error(`${name}: me answered ${me.text.slice(0, 300)}`);
    // The password is really checked: a wrong one is refused (on an account outside the rotation),
    // and the right one then still works.
    const wrong = await call(
      run.base,
      'POST',
      `${authPath}/sign-in`,
      {},
      { email: CANARY_EMAIL, password: `${PASSWORD}x` },
    );
    expectAnswer(`${name}: sign-in with a wrong password`, wrong, 401);
    const right = await call(
      run.base,
      'POST',
      `${authPath}/sign-in`,
      {},
      { email: CANARY_EMAIL, password: PASSWORD },
    );
    expectAnswer(`${name}: canary sign-in`, right, 200);
    return;
  }
  const collection = op === 'get-public' ? PUBLIC_ITEMS : USER_ITEMS;
  for (const n of [0, 7 % settings.rows, settings.rows - 1]) {
    const id = run.ids[collection][n]!;
    const u = run.users[n % run.users.length]!;
    const headers: Record<string, string> = {};
    if (op !== 'get-public') {
      const [header, value] = credentialOf(op, u);
      headers[header.toLowerCase()] = value;
    }
    const what = `${name} ${op}: ${collection}/${id}`;
    const answer = await call(run.base, 'GET', recordPath(collection, id), headers);
    expectAnswer(what, answer, 200);
    const record = answer.json as Record<string, unknown> | undefined;
    const expected = { id, ...seedRow(n) };
    if (record?.id !== expected.id || record.title !== expected.title || record.n !== expected.n) {
      throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${answer.text.slice(0, 300)}`);
    }
    if (op !== 'get-public') {
      // The rule really needs the credential: the same request without it is refused.
      const anonymous = await call(run.base, 'GET', recordPath(collection, id), {});
      if (!DENIED.has(anonymous.status)) {
        throw new Error(`${what} without credentials answered ${anonymous.status}, expected 401, 403 or 404`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement over HTTP

interface Measurement {
  target: TargetName;
  op: Op;
  round: number;
  wrk: Omit<WrkResult, 'raw'>;
  /** Server process CPU (user + system, every thread: scrypt runs on libuv's pool) per request, in µs. */
  serverCpuUsPerRequest: number | undefined;
  /** Cores' worth of CPU the server used during the window. */
  serverCores: number | undefined;
  /** PostgreSQL (postmaster and all its backends) CPU per request during the window, in µs. */
  postgresCpuUsPerRequest: number | undefined;
  postgresCores: number | undefined;
  machineBusy: number | undefined;
  wrkCores: number | undefined;
  /** Cores' worth of CPU used by everything else on the machine (other work: a disturbance). */
  otherCores: number | undefined;
}

function loadOptions(run: Running, op: Op, durationS: number): WrkOptions {
  if (op === 'sign-in') {
    return {
      url: `${run.base}${authPath}/sign-in`,
      threads: settings.threads,
      connections: settings.signInConnections,
      durationS,
      // A sign-in takes tens of ms of CPU; queued behind the others it can take a second or more.
      timeoutS: 10,
      headers: { 'Content-Type': 'application/json' },
      script: signInScript,
      scriptArgs: [run.files.signInBodies, String(settings.threads)],
    };
  }
  return {
    url: run.base,
    threads: settings.threads,
    connections: settings.connections,
    durationS,
    script: getScript,
    scriptArgs:
      op === 'get-public' ? [run.files.publicPaths] : [run.files.userPaths, credentialsFile(run, op)],
  };
}

/**
 * Waits (up to BENCH_QUIET_WAIT_S) until the machine has been nearly idle for a second: on a
 * 2-core box a test suite or build running alongside takes the cores the servers need, and a window
 * measured then is thrown away anyway. Between measurements only idle servers are running here.
 */
async function waitForQuietMachine(): Promise<void> {
  const deadline = Date.now() + settings.quietWaitS * 1_000;
  let announced = false;
  for (;;) {
    const before = systemCpuSample();
    await delay(1_000);
    const busyCores = (busyShare(before, systemCpuSample()) ?? 0) * cores;
    if (busyCores <= QUIET_CORES) return;
    if (Date.now() >= deadline) {
      console.log(`  the machine is still busy (${busyCores.toFixed(2)} cores): measuring anyway`);
      return;
    }
    if (!announced) {
      console.log(`  waiting for other work to finish (${busyCores.toFixed(2)} cores busy)…`);
      announced = true;
    }
  }
}

async function measure(run: Running, op: Op, round: number, pgPid: number | undefined): Promise<Measurement> {
  if (op === 'get-jwt') await refreshAccessTokens(run);
  await waitForQuietMachine();
  await verify(run, op);
  await runWrk(loadOptions(run, op, settings.warmupS));
  const cpuBefore = processCpuMs(run.server.pid);
  const pgBefore = pgPid === undefined ? undefined : processTreeCpuMs(pgPid);
  const childrenBefore = reapedChildrenCpuMs();
  const sysBefore = systemCpuSample();
  const wallBefore = performance.now();
  const { raw: _raw, ...wrk } = await runWrk(loadOptions(run, op, settings.durationS));
  const wallMs = performance.now() - wallBefore;
  const cpu = cpuDelta(cpuBefore, processCpuMs(run.server.pid));
  const pgCpu = pgPid === undefined ? 0 : cpuDelta(pgBefore, processTreeCpuMs(pgPid));
  // wrk has exited and been waited for: its whole CPU time is now in this process's children's.
  const wrkCpu = cpuDelta(childrenBefore, reapedChildrenCpuMs());
  const machineBusy = busyShare(sysBefore, systemCpuSample());
  if (wrk.requests === 0) throw new Error(`${run.name} ${op}: wrk completed no requests`);
  // A 429 or 423 from the sign-in guard, a 401 from an expired token: any of them means the window
  // measured refusals, not the operation.
  if (wrk.non2xx3xx > 0) {
    throw new Error(`${run.name} ${op}: ${wrk.non2xx3xx} of ${wrk.requests} responses were not 2xx/3xx`);
  }
  await verify(run, op);
  const otherCores =
    machineBusy === undefined || cpu === undefined || wrkCpu === undefined || pgCpu === undefined
      ? undefined
      : Math.max(0, machineBusy * cores - (cpu + wrkCpu + pgCpu) / wallMs);
  const onPostgres = run.pgDatabase !== undefined && pgCpu !== undefined;
  return {
    target: run.name,
    op,
    round,
    wrk,
    serverCpuUsPerRequest: cpu === undefined ? undefined : (cpu * 1_000) / wrk.requests,
    serverCores: cpu === undefined ? undefined : cpu / wallMs,
    postgresCpuUsPerRequest: onPostgres ? (pgCpu * 1_000) / wrk.requests : undefined,
    postgresCores: onPostgres ? pgCpu / wallMs : undefined,
    machineBusy,
    wrkCores: wrkCpu === undefined ? undefined : wrkCpu / wallMs,
    otherCores,
  };
}

function disturbed(m: { otherCores: number | undefined }): boolean {
  return m.otherCores !== undefined && m.otherCores > OTHER_CORES_LIMIT;
}

// ---------------------------------------------------------------------------------------------
// In this process: scrypt and access-token verification alone, without HTTP or a database

const SCRYPT_CASES = ['hash', 'verify', 'verify-parallel'] as const;
const JWT_CASES = ['jwt-first', 'jwt-cached'] as const;
type InProcessCase = (typeof SCRYPT_CASES)[number] | (typeof JWT_CASES)[number];
/** Fresh tokens per jwt-first measurement: below AccessTokens' verified-token cache size (10,000). */
const JWT_FIRST_TOKENS = 5_000;

interface InProcessMeasurement {
  case: InProcessCase;
  round: number;
  operations: number;
  /** In flight at once (1, or BENCH_SIGNIN_CONNECTIONS). */
  concurrency: number;
  opsPerSec: number;
  /** Wall time from start to end of one operation (concurrency 1 only: its latency), in µs. */
  wallUsPerOp: number | undefined;
  /** This process's CPU (all threads) per operation, in µs. */
  cpuUsPerOp: number;
  otherCores: number | undefined;
}

/**
 * `AccessTokens` as the server builds it, over an in-memory Ed25519 key and a session status that
 * is always active (in the server: a map lookup while cached), with `count` freshly issued tokens.
 */
async function accessTokenFixture(count: number): Promise<{ verifier: AccessTokens; tokens: string[] }> {
  const pair = generateKeyPairSync('ed25519');
  const jwk = pair.publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string };
  const key = new SigningKey({
    kid: jwkThumbprint(jwk),
    generation: 1,
    activatesAtMs: 0,
    retiresAtMs: null,
    x: jwk.x,
    privateKey: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  });
  const verifier = new AccessTokens(
    {
      overlapMs: 3_600_000,
      current: async () => key,
      verificationKey: async (kid) => (kid === key.kid ? key.publicKey : undefined),
    },
    { issuer: 'groundwork', audience: 'groundwork', sessions: { isFamilyActive: async () => true } },
  );
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push((await verifier.issue({ sub: `user${i}`, collection: USERS, sessionId: `s${i}` })).token);
  }
  return { verifier, tokens };
}

/** The operation a case repeats; it answers false when it has nothing left to do. */
async function inProcessOp(which: InProcessCase, stored: string): Promise<() => Promise<boolean>> {
  if (which === 'hash') {
    return async () => {
      await hashPassword(PASSWORD);
      return true;
    };
  }
  if (which === 'verify' || which === 'verify-parallel') {
    return async () => {
      if (!(await verifyPassword(PASSWORD, stored))) throw new Error('verifyPassword refused the password');
      return true;
    };
  }
  // One token more than used: the first warms jose's code paths (and, for jwt-cached, the cache).
  const { verifier, tokens } = await accessTokenFixture(which === 'jwt-first' ? JWT_FIRST_TOKENS + 1 : 1);
  let next = 0;
  return async () => {
    const token = which === 'jwt-first' ? tokens[next++] : tokens[0];
    if (token === undefined) return false;
    const claims = await verifier.verify(token);
    if (claims.col !== USERS) throw new Error('AccessTokens.verify answered other claims');
    return true;
  };
}

async function measureInProcessCase(
  which: InProcessCase,
  round: number,
  stored: string,
): Promise<InProcessMeasurement> {
  const concurrency = which === 'verify-parallel' ? settings.signInConnections : 1;
  const op = await inProcessOp(which, stored);
  await waitForQuietMachine();
  await op(); // warm: the first scrypt allocates its 32 MiB block; the first verify loads jose
  let operations = 0;
  const sysBefore = systemCpuSample();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + settings.hashS * 1_000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && (await op())) operations++;
    }),
  );
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1_000;
  const machineBusy = busyShare(sysBefore, systemCpuSample());
  if (operations === 0) throw new Error(`in-process ${which}: no operation completed`);
  return {
    case: which,
    round,
    operations,
    concurrency,
    opsPerSec: (operations * 1_000) / wallMs,
    wallUsPerOp: concurrency === 1 ? (wallMs * 1_000) / operations : undefined,
    cpuUsPerOp: (cpuMs * 1_000) / operations,
    otherCores: machineBusy === undefined ? undefined : Math.max(0, machineBusy * cores - cpuMs / wallMs),
  };
}

async function measureInProcess(
  round: number,
  cases: readonly InProcessCase[],
  stored: string,
  into: InProcessMeasurement[],
  repeats: Repeat[],
): Promise<void> {
  for (const which of cases) {
    let m = await measureInProcessCase(which, round, stored);
    for (let attempt = 2; attempt <= settings.attempts && disturbed(m); attempt++) {
      repeats.push({ what: `in-process ${which}`, round, otherCores: m.otherCores ?? 0 });
      console.log(
        `  round ${round} in-process ${which} disturbed: other work took ${m.otherCores?.toFixed(2)} cores; measuring again (attempt ${attempt}/${settings.attempts})`,
      );
      await delay(5_000);
      m = await measureInProcessCase(which, round, stored);
    }
    into.push(m);
    console.log(
      `  round ${round}/${settings.rounds} in-process ${which.padEnd(15)} ${m.opsPerSec.toFixed(1).padStart(8)}/s` +
        (m.wallUsPerOp === undefined ? '' : `  ${formatInt(m.wallUsPerOp)} µs each`) +
        `  CPU ${formatInt(m.cpuUsPerOp)} µs/op` +
        (m.otherCores === undefined ? '' : `  other ${m.otherCores.toFixed(2)}`),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Summaries

interface Summary {
  target: TargetName;
  op: Op;
  requestsPerSec: number;
  p50: number;
  p99: number;
  serverCpuUsPerRequest: number | undefined;
  postgresCpuUsPerRequest: number | undefined;
  serverCores: number | undefined;
  perRound: readonly number[];
  socketErrors: number;
}

function medianOrUndefined(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length > 0 ? median(present) : undefined;
}

/** Median over rounds; a window other work still disturbed after every attempt is left out while clean ones remain. */
function cleanOf<T extends { otherCores: number | undefined }>(mine: readonly T[]): readonly T[] {
  const clean = mine.filter((m) => !disturbed(m));
  return clean.length > 0 ? clean : mine;
}

function summarise(target: TargetName, op: Op, all: readonly Measurement[]): Summary {
  const runs = cleanOf(
    all.filter((m) => m.target === target && m.op === op).sort((a, b) => a.round - b.round),
  );
  return {
    target,
    op,
    requestsPerSec: median(runs.map((m) => m.wrk.requestsPerSec)),
    p50: median(runs.map((m) => m.wrk.latencyMs.p50)),
    p99: median(runs.map((m) => m.wrk.latencyMs.p99)),
    serverCpuUsPerRequest: medianOrUndefined(runs.map((m) => m.serverCpuUsPerRequest)),
    postgresCpuUsPerRequest: medianOrUndefined(runs.map((m) => m.postgresCpuUsPerRequest)),
    serverCores: medianOrUndefined(runs.map((m) => m.serverCores)),
    perRound: runs.map((m) => m.wrk.requestsPerSec),
    socketErrors: runs.reduce(
      (sum, m) => sum + Object.values(m.wrk.socketErrors).reduce((a, b) => a + b, 0),
      0,
    ),
  };
}

interface InProcessSummary {
  case: InProcessCase;
  concurrency: number;
  opsPerSec: number;
  wallUsPerOp: number | undefined;
  cpuUsPerOp: number;
}

function summariseInProcess(
  which: InProcessCase,
  all: readonly InProcessMeasurement[],
): InProcessSummary | undefined {
  const runs = cleanOf(all.filter((m) => m.case === which));
  if (runs.length === 0) return undefined;
  return {
    case: which,
    concurrency: runs[0]!.concurrency,
    opsPerSec: median(runs.map((m) => m.opsPerSec)),
    wallUsPerOp: medianOrUndefined(runs.map((m) => m.wallUsPerOp)),
    cpuUsPerOp: median(runs.map((m) => m.cpuUsPerOp)),
  };
}

/** What one authenticated get costs over the anonymous get of the same target. */
interface Overhead {
  target: TargetName;
  op: AuthOp;
  serverCpuUs: number | undefined;
  /** The same difference, round by round (paired within a round), and whether either window was disturbed. */
  serverCpuUsPerRound: readonly { value: number; disturbed: boolean }[];
  postgresCpuUs: number | undefined;
  /** Authenticated req/s ÷ anonymous req/s. */
  requestsRatio: number;
}

function overheadOf(
  target: TargetName,
  op: AuthOp,
  summaries: readonly Summary[],
  all: readonly Measurement[],
): Overhead | undefined {
  const auth = summaries.find((s) => s.target === target && s.op === op);
  const anon = summaries.find((s) => s.target === target && s.op === 'get-public');
  if (auth === undefined || anon === undefined) return undefined;
  const diff = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a - b;
  const perRound: { value: number; disturbed: boolean }[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const pick = (o: Op) => all.find((m) => m.target === target && m.op === o && m.round === round);
    const a = pick(op);
    const b = pick('get-public');
    const d = diff(a?.serverCpuUsPerRequest, b?.serverCpuUsPerRequest);
    if (d !== undefined) perRound.push({ value: d, disturbed: disturbed(a!) || disturbed(b!) });
  }
  return {
    target,
    op,
    serverCpuUs: diff(auth.serverCpuUsPerRequest, anon.serverCpuUsPerRequest),
    serverCpuUsPerRound: perRound,
    postgresCpuUs: diff(auth.postgresCpuUsPerRequest, anon.postgresCpuUsPerRequest),
    requestsRatio: auth.requestsPerSec / anon.requestsPerSec,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const OP_TITLES: Record<Op, string> = {
  'sign-in': 'sign-in (email + password → tokens)',
  'get-public': 'get by id, no credentials',
  'get-jwt': 'get by id, JWT access token',
  'get-key': 'get by id, user API key',
  'get-cookie': 'get by id, session cookie',
};

const CHART_LABELS: Record<GetOp, string> = {
  'get-public': 'none',
  'get-jwt': 'JWT',
  'get-key': 'API key',
  'get-cookie': 'cookie',
};

const TARGET_LABELS: Record<TargetName, string> = {
  'groundwork-sqlite': 'SQLite',
  'groundwork-postgres': 'PG',
};

const IN_PROCESS_TITLES: Record<InProcessCase, string> = {
  hash: '`hashPassword`, one at a time',
  verify: '`verifyPassword`, one at a time',
  'verify-parallel': `\`verifyPassword\`, ${settings.signInConnections} at a time`,
  'jwt-first': '`AccessTokens.verify`, each token new (signature checked)',
  'jwt-cached': '`AccessTokens.verify`, the same token again (cached)',
};

function formatUs(value: number | undefined): string {
  return value === undefined ? 'n/a' : formatInt(value);
}

/** µs with one decimal below 10 (a cache hit), whole above. */
function formatSmallUs(value: number): string {
  return value < 10 ? value.toFixed(1) : formatInt(value);
}

function formatSigned(value: number | undefined): string {
  if (value === undefined) return 'n/a';
  const rounded = Math.round(value);
  return rounded > 0 ? `+${formatInt(rounded)}` : formatInt(rounded);
}

/** The command as typed, with any BENCH_* overrides in front. */
function commandLine(): string {
  const overrides = Object.entries(process.env)
    .filter(([key, value]) => key.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([key, value]) => `${key}=${value}`)
    .sort();
  return [...overrides, `npx tsx bench/${NAME}.ts`].join(' ');
}

/** A measurement thrown away because other work on the machine took CPU during it. */
interface Repeat {
  what: string;
  round: number;
  otherCores: number;
}

function report(
  summaries: readonly Summary[],
  measurements: readonly Measurement[],
  inProcessMeasurements: readonly InProcessMeasurement[],
  repeats: readonly Repeat[],
  startedAt: Date,
): void {
  const machine = machineInfo();
  const revision = gitRevision();
  const find = (target: TargetName, op: Op) => summaries.find((s) => s.target === target && s.op === op);
  const overheads = settings.targets.flatMap((t) =>
    AUTH_OPS.flatMap((op) => {
      const o = overheadOf(t, op, summaries, measurements);
      return o === undefined ? [] : [o];
    }),
  );
  const inProcess = (cases: readonly InProcessCase[]) =>
    cases.flatMap((c) => {
      const s = summariseInProcess(c, inProcessMeasurements);
      return s === undefined ? [] : [s];
    });
  const hashes = inProcess(SCRYPT_CASES);
  const jwts = inProcess(JWT_CASES);
  const jwtFirst = jwts.find((j) => j.case === 'jwt-first');
  const jwtCached = jwts.find((j) => j.case === 'jwt-cached');
  const verifyOne = hashes.find((h) => h.case === 'verify');
  const verifyMany = hashes.find((h) => h.case === 'verify-parallel');

  const headers = [
    'operation',
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'server CPU µs/req',
    'PostgreSQL CPU µs/req',
    'req/s vs no credentials',
    'auth overhead, server CPU µs/req',
  ];
  const align = ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] as const;
  const rows = summaries.map((s) => {
    const o = overheads.find((x) => x.target === s.target && x.op === s.op);
    const anon = find(s.target, 'get-public');
    const pct =
      o?.serverCpuUs !== undefined && anon?.serverCpuUsPerRequest
        ? ` (${formatSigned((o.serverCpuUs / anon.serverCpuUsPerRequest) * 100)}%)`
        : '';
    return [
      OP_TITLES[s.op],
      s.target,
      s.op === 'sign-in' ? s.requestsPerSec.toFixed(1) : formatInt(s.requestsPerSec),
      formatMs(s.p50),
      formatMs(s.p99),
      formatUs(s.serverCpuUsPerRequest),
      s.target === 'groundwork-sqlite' ? '—' : formatUs(s.postgresCpuUsPerRequest),
      s.op === 'sign-in'
        ? '—'
        : anon === undefined
          ? 'n/a'
          : formatRatio(s.requestsPerSec / anon.requestsPerSec),
      s.op === 'sign-in' || s.op === 'get-public' ? '—' : `${formatSigned(o?.serverCpuUs)}${pct}`,
    ];
  });
  const hashHeaders = ['case', 'per second', 'ms per hash (wall)', 'CPU ms per hash'];
  const hashAlign = ['left', 'right', 'right', 'right'] as const;
  const hashRows = hashes.map((h) => [
    IN_PROCESS_TITLES[h.case],
    h.opsPerSec.toFixed(1),
    h.wallUsPerOp === undefined ? '—' : (h.wallUsPerOp / 1_000).toFixed(1),
    (h.cpuUsPerOp / 1_000).toFixed(1),
  ]);
  const jwtHeaders = ['case', 'per second', 'µs per verification (wall)', 'CPU µs per verification'];
  const jwtRows = jwts.map((j) => [
    IN_PROCESS_TITLES[j.case],
    formatInt(j.opsPerSec),
    j.wallUsPerOp === undefined ? '—' : formatSmallUs(j.wallUsPerOp),
    formatSmallUs(j.cpuUsPerOp),
  ]);
  console.log(
    `\n${textTable(headers, rows, align)}\n\nscrypt in this process (thread pool ${threadPool}):\n${textTable(
      hashHeaders,
      hashRows.map((r) => r.map((c) => c.replace(/`/g, ''))),
      hashAlign,
    )}\n\naccess-token verification in this process:\n${textTable(
      jwtHeaders,
      jwtRows.map((r) => r.map((c) => c.replace(/`/g, ''))),
      hashAlign,
    )}\n`,
  );
  if (!complete) {
    console.log('partial run (BENCH_TARGETS / BENCH_OPS): docs/benchmarks.md left as it is');
    return;
  }

  const chartFile = `${NAME}.svg`;
  const date = startedAt.toISOString().slice(0, 10);
  writeBenchmarkAsset(
    chartFile,
    barChartSvg({
      title: `Get by id by credential: requests/s (median of ${settings.rounds}, higher is better)`,
      subtitle: `Groundwork on SQLite and PostgreSQL (PG) · wrk -c${settings.connections} -d${settings.durationS}s · ${formatInt(settings.rows)} rows · ${date} · ${machine.cores} cores`,
      bars: settings.targets.flatMap((t) =>
        GET_OPS.flatMap((op) => {
          const s = find(t, op);
          return s === undefined
            ? []
            : [
                {
                  label: `${CHART_LABELS[op]} · ${TARGET_LABELS[t]}`,
                  value: s.requestsPerSec,
                  highlight: op !== 'get-public',
                },
              ];
        }),
      ),
      width: 760,
    }),
  );
  writeBenchmarkAsset(
    `${NAME}.json`,
    `${JSON.stringify(
      {
        startedAt,
        command: commandLine(),
        revision,
        machine,
        settings,
        scrypt: SCRYPT_PARAMS,
        threadPool,
        measurements,
        inProcessMeasurements,
        repeats,
      },
      null,
      2,
    )}\n`,
  );

  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const busy = measurements.flatMap((m) => (m.machineBusy === undefined ? [] : [m.machineBusy]));
  const stillDisturbed = [
    ...measurements.filter(disturbed).map((m) => `${m.op} ${m.target} round ${m.round}`),
    ...inProcessMeasurements.filter(disturbed).map((m) => `in-process ${m.case} round ${m.round}`),
  ];
  const disturbanceNote = ` A window in which other work on the machine (all busy CPU minus the server's, PostgreSQL's and wrk's; for the in-process cases, minus this process's) took more than ${OTHER_CORES_LIMIT} cores was measured again, up to ${settings.attempts} attempts: ${
    repeats.length === 0
      ? 'none was needed in this run'
      : `${repeats.length} time(s) in this run (${repeats.map((r) => `${r.what} round ${r.round}: ${r.otherCores.toFixed(2)} cores`).join(', ')})`
  }.${
    stillDisturbed.length > 0
      ? ` **Still disturbed after ${settings.attempts} attempts:** ${stillDisturbed.join(', ')} (left out of the medians where another round was clean).`
      : ''
  }`;
  const errors = summaries.filter((s) => s.socketErrors > 0);
  const memoryMiB = (128 * SCRYPT_PARAMS.N * SCRYPT_PARAMS.r) / 1024 ** 2;

  const signInNotes = settings.targets
    .map((t) => {
      const s = find(t, 'sign-in');
      if (s === undefined || s.serverCpuUsPerRequest === undefined || verifyOne === undefined) return '';
      const share = verifyOne.cpuUsPerOp / s.serverCpuUsPerRequest;
      const ceiling =
        verifyMany === undefined
          ? ''
          : `, ${pct(s.requestsPerSec / verifyMany.opsPerSec)} of the ${verifyMany.opsPerSec.toFixed(1)}/s this process reached verifying ${verifyMany.concurrency} at a time without HTTP`;
      return `- \`${t}\`: ${s.requestsPerSec.toFixed(1)} sign-ins/s${ceiling}; ${formatInt(s.serverCpuUsPerRequest)} µs of server CPU per sign-in, of which one \`verifyPassword\` (${formatInt(verifyOne.cpuUsPerOp)} µs in-process) is ${pct(share)}${s.serverCores === undefined ? '' : `; the server used ${s.serverCores.toFixed(2)} cores`}.`;
    })
    .filter((line) => line !== '')
    .join('\n');
  const overheadNotes = settings.targets
    .map((t) => {
      const anon = find(t, 'get-public');
      const parts = AUTH_OPS.flatMap((op) => {
        const o = overheads.find((x) => x.target === t && x.op === op);
        if (o === undefined) return [];
        const pg =
          t === 'groundwork-postgres' && o.postgresCpuUs !== undefined
            ? `, PostgreSQL ${formatSigned(o.postgresCpuUs)} µs`
            : '';
        const rounds = o.serverCpuUsPerRound
          .map((r) => `${formatSigned(r.value)}${r.disturbed ? '*' : ''}`)
          .join(' / ');
        return [
          `**${CHART_LABELS[op]}** ${formatSigned(o.serverCpuUs)} µs server CPU (paired round by round: ${rounds})${pg}, req/s ${formatRatio(o.requestsRatio)}`,
        ];
      });
      return `- \`${t}\` (no credentials: ${formatUs(anon?.serverCpuUsPerRequest)} µs/req${anon?.postgresCpuUsPerRequest === undefined ? '' : ` + PostgreSQL ${formatUs(anon.postgresCpuUsPerRequest)} µs`}): ${parts.join('; ')}.`;
    })
    .join('\n');
  // The windows the medians were taken from (clean ones, where a target and operation had any).
  const used = settings.targets.flatMap((t) =>
    OPS.flatMap((op) => cleanOf(measurements.filter((m) => m.target === t && m.op === op))),
  );
  const serverCores = (op: Op) => {
    const values = used
      .filter((m) => m.op === op)
      .flatMap((m) => (m.serverCores === undefined ? [] : [m.serverCores]));
    return values.length === 0
      ? 'n/a'
      : `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;
  };

  const jwtCores = medianOrUndefined(used.filter((m) => m.op === 'get-jwt').map((m) => m.serverCores));
  const jwtPoolNote =
    jwtCores !== undefined && jwtCores > 1.05
      ? ` In the JWT windows the server used more than one core (median ${jwtCores.toFixed(2)}): jose 6 checks the signature through WebCrypto (\`crypto.subtle.verify\`), which Node runs as a job on the libuv thread pool, so part of a JWT get's CPU is on a pool thread, plus the hand-off to it and back.`
      : '';

  const body = `## Auth: sign-in/s and the cost of authenticating a request

Groundwork's auth block (issue 4: \`bench/auth\`) on its embedded SQLite and on PostgreSQL: password
sign-in, which the hash dominates by design, and get-by-id with no credentials against the same get
authenticated by a JWT access token, a user API key and a session cookie, all in one run. The auth
overhead per request is the authenticated get's server CPU per request minus the anonymous one's.

- **Measured:** ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, Groundwork \`${revision}\` (\`dist/\` build)
- **Command:** \`${commandLine()}\` from the repository root (or \`npm run bench:auth\`; builds \`dist/\` first)
- **Machine:** ${formatMachine(machine)}
- **Password hash:** scrypt (node:crypto) with \`SCRYPT_PARAMS\` from [\`src/auth/passwords.ts\`](../src/auth/passwords.ts): N = 2^${Math.log2(SCRYPT_PARAMS.N)} (${formatInt(SCRYPT_PARAMS.N)}), r = ${SCRYPT_PARAMS.r}, p = ${SCRYPT_PARAMS.p}, ${SCRYPT_PARAMS.keyLength}-byte key, 16-byte random salt; ${memoryMiB} MiB of memory per hash (128·N·r bytes). It runs on libuv's thread pool, here ${threadPool} threads, in the servers and in this process alike (\`UV_THREADPOOL_SIZE\` is passed through unchanged).
- **Data:** per target, an auth collection \`${USERS}\` with ${settings.users} users (plus one more for the wrong-password check), each signed up through \`POST …/auth/sign-up\`, then signed in once for tokens and once for a cookie session, and given an API key scoped to \`${USER_ITEMS}:view\` (\`POST …/auth/keys\`, made with the user's access token); and two collections with the same fields (\`title\` text, \`n\` integer) and the same ${formatInt(settings.rows)} rows (seeded through \`POST /api/v1/batch\`), differing only in their view rule: \`${PUBLIC_ITEMS}\` (\`""\`: anyone) and \`${USER_ITEMS}\` (\`${USER_RULE}\`: any signed-in user; an anonymous caller is refused).
- **Operations:**
  - *sign-in*: \`POST /api/v1/collections/${USERS}/auth/sign-in\` with \`{"email", "password"}\` (the right password), the ${settings.users} users in turn ([\`bench/servers/auth-sign-in.lua\`](../bench/servers/auth-sign-in.lua)), so requests in flight are for different users and the sign-in guard's per-account accounting never limits; each answers 200 with an access token, a refresh token and the user. A sign-in checks the guard (in memory), reads the user by email and their credentials, verifies the password (one scrypt), and issues a refresh-token family (one insert) and an EdDSA-signed access token;
  - *get by id*: \`GET /api/v1/collections/{collection}/records/{id}\`, the id picked at random per request from the ${formatInt(settings.rows)} rows ([\`bench/servers/auth-get.lua\`](../bench/servers/auth-get.lua)); with no credentials on \`${PUBLIC_ITEMS}\`, or on \`${USER_ITEMS}\` with one of the ${settings.users} users' credentials (row i carries user i mod ${settings.users}'s): \`Authorization: Bearer <access token>\` (the Ed25519 signature is checked on a token's first use, then the verified token is remembered by its exact text, so each use re-checks only its expiry, its key and its session's status, which is cached 5 s; then the user record, cached 5 s), \`Authorization: Bearer gwk_…\` (a SHA-256 lookup cached 5 s, then the user), or \`Cookie: ${SESSION_COOKIE}=…\` (a session row read per request, then the user). Access tokens keep their default 15-minute lifetime: before each JWT window every user's refresh token is rotated for a fresh one, so each of the ${settings.users} new tokens has its signature checked once, in the warm-up, and the measured window is the steady state of clients that reuse their token (what a first use costs is in the table of verifications below).
- **Servers:** \`node bin/groundwork.js start --log-level warn\` with no config file (every auth and gateway setting at its default; rate limiting is off by default); SQLite: WAL, \`synchronous = NORMAL\`, file in the data dir; PostgreSQL: \`--db-url\`, pool of 10, one PostgreSQL 15 from the test harness (\`fsync=off\`).
- **Load:** \`wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency\` for the gets and \`wrk -t${settings.threads} -c${settings.signInConnections} -d${settings.durationS}s --latency --timeout 10s\` for sign-in (each sign-in holds tens of ms of CPU; more connections would only queue), each after a ${settings.warmupS} s warm-up at the same settings. Both servers run for the whole benchmark (set up once); ${settings.rounds} round(s): the in-process cases (scrypt, then access-token verification), then sign-in, then the four gets in an order rotated each round, each on both targets in an order rotated each round; each figure is the median over rounds. wrk, the server under load and PostgreSQL share the machine's ${cores} cores.${busy.length > 0 ? ` All cores were ${pct(Math.min(...busy))}–${pct(Math.max(...busy))} busy during the measured windows.` : ''}${disturbanceNote}
- **Checked before and after every measurement** (the run stops otherwise): a sign-in answers 200 for the right user with an access token that \`GET …/auth/me\` accepts, and a wrong password is refused with 401; each get returns three seeded rows exactly (id, title, n) with its credential, and on \`${USER_ITEMS}\` the same request without the credential is refused (401, 403 or 404); wrk saw no non-2xx answer in any window (no 429 or 423 from the sign-in guard, no 401).

${markdownTable(headers, rows, align)}

"req/s vs no credentials" and "auth overhead" compare with the anonymous get on the same target in the same run; the overhead is the difference of the two medians of server CPU per request (and, in brackets, as a share of the anonymous get's). req/s per round (the rounds the medians come from): ${summaries
    .map(
      (s) =>
        `${s.op} ${s.target} ${s.perRound.map((v) => (s.op === 'sign-in' ? v.toFixed(1) : formatInt(v))).join(' / ')}`,
    )
    .join('; ')}.${
    errors.length > 0
      ? ` **Socket errors** (connect/read/write/timeout) during the run: ${errors
          .map((s) => `${s.op} ${s.target} ${s.socketErrors}`)
          .join(', ')}.`
      : ' No socket errors.'
  }

![Get by id requests/s by credential and database](benchmarks/${chartFile})

**scrypt alone, in the benchmark process** (the same \`hashPassword\` / \`verifyPassword\`, no HTTP, no database; ${settings.hashS} s per case and round, median of ${settings.rounds}; CPU is the process's, all threads):

${markdownTable(hashHeaders, hashRows, hashAlign)}

**Access-token verification alone, in the benchmark process** (\`AccessTokens\` from [\`src/auth/tokens/access-tokens.ts\`](../src/auth/tokens/access-tokens.ts) as the server builds it, over an in-memory Ed25519 key and an always-active session status; one at a time, up to ${settings.hashS} s or ${formatInt(JWT_FIRST_TOKENS)} new tokens per case and round, median of ${settings.rounds}):

${markdownTable(jwtHeaders, jwtRows, hashAlign)}
${
  jwtFirst !== undefined && jwtCached !== undefined
    ? `\nA token's first use costs ${formatInt(jwtFirst.cpuUsPerOp - jwtCached.cpuUsPerOp)} µs of CPU more than each later use (jose's signature check through WebCrypto, which Node runs on the libuv thread pool).\n`
    : ''
}
**Sign-in is hash-bound:**

${signInNotes}

**Auth overhead per request** (server CPU µs/req over the anonymous get — the difference of the medians in the table —, then the same difference within each round, \`*\` where either window was still disturbed by other work; and the req/s ratio). The authenticated gets also evaluate \`${USER_ITEMS}\`' view rule (\`${USER_RULE}\`, compiled into the query), which the anonymous get skips (\`""\` lets everything through), so the overhead is authentication plus that rule:

${overheadNotes}

**Reading the numbers.**

- In the windows the medians come from, the server used ${serverCores('sign-in')} cores during sign-in (scrypt on ${threadPool} pool threads plus the JavaScript thread, on ${cores} cores) and ${serverCores('get-public')} (no credentials) / ${serverCores('get-jwt')} (JWT) during the gets. "server CPU µs/req" is the server process's CPU time (every thread) over the window divided by the requests served: the cost of one request, which unlike req/s does not depend on who else was using the cores.${jwtPoolNote}
- The hash's cost is deliberate: it is what makes a stolen hash expensive to guess. Raising N doubles both the work per guess and per sign-in; the parameters are stored with each hash, so they can be raised later without invalidating existing passwords.
- p50/p99 are measured at saturation (${settings.connections} connections for the gets, ${settings.signInConnections} for sign-in), so they are mostly queueing (connections ÷ throughput) and move with req/s; they are not the latency of one request on an idle server (that of one hash is in the scrypt table).
- Absolute numbers vary ±20% between runs on this machine: compare by ratio, within one run.
`;
  writeBenchmarkSection(NAME, body);
  console.log(
    `wrote docs/benchmarks.md (section ${NAME}), docs/benchmarks/${chartFile}, docs/benchmarks/${NAME}.json`,
  );
}

// ---------------------------------------------------------------------------------------------

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

async function main(): Promise<void> {
  wrkBinary(); // fail before building anything if the load generator is missing
  buildDist();
  const startedAt = new Date();
  const scratchRoot = path.join(benchTmpRoot, `${NAME}-${process.pid}`);
  mkdirSync(scratchRoot, { recursive: true });
  const measurements: Measurement[] = [];
  const inProcessMeasurements: InProcessMeasurement[] = [];
  const repeats: Repeat[] = [];
  const running: Running[] = [];
  let postgres: PostgresServer | undefined;
  console.log(
    `${NAME}: ${settings.targets.join(', ')} × ${settings.ops.join(', ')} × ${settings.rounds} round(s), ` +
      `wrk -t${settings.threads} -c${settings.connections} (sign-in -c${settings.signInConnections}) -d${settings.durationS}s after ${settings.warmupS} s warm-up, ` +
      `${settings.rows} rows, ${settings.users} users, scrypt N=${SCRYPT_PARAMS.N} r=${SCRYPT_PARAMS.r} p=${SCRYPT_PARAMS.p}, thread pool ${threadPool}`,
  );
  try {
    if (settings.targets.includes('groundwork-postgres')) {
      postgres = await startPostgres();
      console.log(`  postgres pid ${postgres.pid} on ${postgres.url()}`);
    }
    for (const name of settings.targets) {
      const scratch = path.join(scratchRoot, name);
      mkdirSync(scratch, { recursive: true });
      const dbUrl =
        name === 'groundwork-postgres' && postgres !== undefined
          ? await createDatabaseAt(postgres.url(), 'groundwork')
          : undefined;
      running.push(await startGroundwork(name, scratch, dbUrl));
    }
    const stored = await hashPassword(PASSWORD);
    const getOps = GET_OPS.filter((op) => settings.ops.includes(op));
    for (let round = 1; round <= settings.rounds; round++) {
      const cases = [
        ...(settings.ops.includes('sign-in') ? SCRYPT_CASES : []),
        ...(settings.ops.includes('get-jwt') ? JWT_CASES : []),
      ];
      await measureInProcess(round, cases, stored, inProcessMeasurements, repeats);
      // Rotating the orders spreads any drift (thermal, other work on the box) over all of them.
      const ops: Op[] = [
        ...(settings.ops.includes('sign-in') ? ['sign-in' as const] : []),
        ...rotate(getOps, round - 1),
      ];
      for (const op of ops) {
        for (const run of rotate(running, round - 1)) {
          let m = await measure(run, op, round, postgres?.pid);
          for (let attempt = 2; attempt <= settings.attempts && disturbed(m); attempt++) {
            console.log(
              `  round ${round} ${op.padEnd(10)} ${run.name.padEnd(19)} disturbed: other work took ` +
                `${m.otherCores?.toFixed(2)} cores; measuring again (attempt ${attempt}/${settings.attempts})`,
            );
            repeats.push({ what: `${op} ${run.name}`, round, otherCores: m.otherCores ?? 0 });
            await delay(5_000);
            m = await measure(run, op, round, postgres?.pid);
          }
          measurements.push(m);
          console.log(
            `  round ${round}/${settings.rounds} ${op.padEnd(10)} ${run.name.padEnd(19)} ${(op === 'sign-in' ? m.wrk.requestsPerSec.toFixed(1) : formatInt(m.wrk.requestsPerSec)).padStart(7)} req/s` +
              `  p50 ${formatMs(m.wrk.latencyMs.p50)} ms  p99 ${formatMs(m.wrk.latencyMs.p99)} ms` +
              `  server ${formatUs(m.serverCpuUsPerRequest)} µs/req ${m.serverCores?.toFixed(2)} cores` +
              (m.postgresCpuUsPerRequest === undefined
                ? ''
                : `  pg ${formatUs(m.postgresCpuUsPerRequest)} µs/req ${m.postgresCores?.toFixed(2)} cores`) +
              (m.wrkCores === undefined ? '' : `  wrk ${m.wrkCores.toFixed(2)}`) +
              (m.otherCores === undefined ? '' : `  other ${m.otherCores.toFixed(2)}`),
          );
        }
      }
    }
  } catch (error) {
    for (const run of running) {
      const tail = run.server.stderrTail().trim();
      if (tail) console.error(`--- ${run.name} stderr (tail) ---\n${tail.slice(-2_000)}`);
    }
    throw error;
  } finally {
    for (const run of running) await run.close();
    await postgres?.destroy();
    rmSync(scratchRoot, { recursive: true, force: true });
    try {
      rmdirSync(benchTmpRoot); // only when no other benchmark's scratch dir is in it
    } catch {
      // not empty: another run is using it
    }
  }
  const summaries = settings.ops.flatMap((op) => running.map((run) => summarise(run.name, op, measurements)));
  report(summaries, measurements, inProcessMeasurements, repeats, startedAt);
}

await main();
