import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import type { ClusterProcess } from './cluster-state.js';
import { spawnDetached, waitUntil } from './processes.js';

/**
 * PostgreSQL and Redis for the local cluster, started from this machine's binaries (apt's
 * `postgresql` and `redis-server`), each with its data under the cluster directory. An existing
 * PostgreSQL data directory is reused, so `cluster down` + `cluster up` keeps the data.
 */
const HOST = '127.0.0.1';
const PG_BIN_DIRS = [
  '/usr/lib/postgresql/17/bin',
  '/usr/lib/postgresql/16/bin',
  '/usr/lib/postgresql/15/bin',
];

export function findBinary(name: string, extraDirs: readonly string[] = []): string | undefined {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? '').split(delimiter)]) {
    const path = join(dir, name);
    if (dir && existsSync(path)) return path;
  }
  return undefined;
}

/** PostgreSQL refuses to run as root: under root it runs as the `postgres` user Debian creates. */
function engineUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export async function startPostgres(dir: string, port: number): Promise<ClusterProcess> {
  const initdb = findBinary('initdb', PG_BIN_DIRS);
  const postgres = findBinary('postgres', PG_BIN_DIRS);
  if (!initdb || !postgres)
    throw new Error('PostgreSQL is not installed (apt-get install postgresql), or pass --db-url');
  const user = engineUser();
  mkdirSync(dir, { recursive: true });
  if (user.uid !== undefined && user.gid !== undefined) chownSync(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const init = spawnSync(
      initdb,
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8'],
      {
        cwd: dir,
        encoding: 'utf8',
        ...user,
      },
    );
    if (init.status !== 0) {
      const hint =
        user.uid !== undefined
          ? ' (as root, PostgreSQL runs as user postgres: every parent directory of the data dir must be searchable by it, e.g. chmod o+x)'
          : '';
      throw new Error(
        `initdb failed${hint}: ${(init.stderr || init.error?.message || '').trim().slice(-500)}`,
      );
    }
  }
  const base = {
    command: postgres,
    args: ['-D', dataDir, '-p', String(port), '-k', dir, '-c', `listen_addresses=${HOST}`],
    env: {},
    cwd: dir,
    logFile: join(dir, 'postgres.log'),
    ...user,
  };
  const pid = spawnDetached(base);
  const url = `postgres://postgres@${HOST}:${port}/postgres`;
  await waitUntil(() => answersQuery(url), {
    pid,
    what: 'PostgreSQL',
    timeoutMs: 30_000,
    logFile: base.logFile,
  });
  return { ...base, name: 'postgres', kind: 'postgres', pid, port, url };
}

/** Creates database `name` unless it exists; returns its URL. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    // `name` is a fixed [a-z] word chosen by the launcher, so quoting it is enough.
    if (found.rowCount === 0) await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function answersQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function startRedis(dir: string, port: number): Promise<ClusterProcess> {
  const redis = findBinary('redis-server');
  if (!redis)
    throw new Error('redis-server is not installed (apt-get install redis-server), or pass --redis-url');
  mkdirSync(dir, { recursive: true });
  const base = {
    command: redis,
    args: ['--bind', HOST, '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir],
    env: {},
    cwd: dir,
    logFile: join(dir, 'redis.log'),
  };
  const pid = spawnDetached(base);
  await waitUntil(() => redisPing(port), { pid, what: 'Redis', timeoutMs: 10_000, logFile: base.logFile });
  return { ...base, name: 'redis', kind: 'redis', pid, port, url: `redis://${HOST}:${port}` };
}

/** One PING on a fresh connection: true on `+PONG`. */
export function redisPing(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString('latin1').startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}
