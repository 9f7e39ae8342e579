import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findBinary } from './engines.js';
import { launchOnFreePort, launchUntilReady } from './launch.js';
import {
  exited,
  forgetTempDir,
  hasExited,
  spawnEngine,
  stopChild,
  tailFile,
  trackTempDir,
} from './processes.js';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const BIND_ATTEMPTS = 5;
/**
 * fsync off: test data need not survive a machine crash. Prepared transactions and a replica-ready WAL
 * level let two-phase-commit and replication tests use the same kind of server.
 */
const SERVER_SETTINGS = [
  `listen_addresses=${HOST}`,
  'fsync=off',
  'max_connections=200',
  'max_prepared_transactions=10',
  'wal_level=replica',
];

export interface PostgresServer {
  readonly port: number;
  readonly host: string;
  /** PID of the running postmaster (of the last one, after `stop()`). */
  readonly pid: number;
  readonly dataDir: string;
  /** `postgres://postgres@127.0.0.1:PORT/<database>`; trust authentication, no password. */
  url(database?: string): string;
  /** Creates a database with a fresh unique name and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Fast shutdown (SIGINT) and wait for the postmaster to exit; SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** Starts again on the same data directory and port after `stop()`; no-op while running. */
  start(): Promise<void>;
  /** `stop()`, then removes the temp directory. The server cannot be started again. */
  destroy(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Fixed port; default: a free port below 32768 (retried if another process takes it first). */
  port?: number;
}

/** `t_<prefix>_<random>`: only [a-z0-9_], well under PostgreSQL's 63-byte identifier limit. */
export function uniqueDatabaseName(prefix = 'db'): string {
  const safe =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 40) || 'db';
  return `t_${safe}_${randomBytes(6).toString('hex')}`;
}

/** Runs `CREATE DATABASE` through `adminUrl` and returns the URL of the new database. */
export async function createDatabaseAt(adminUrl: string, prefix?: string): Promise<string> {
  const name = uniqueDatabaseName(prefix);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    // The name is generated from [a-z0-9_] only, so quoting it is enough.
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** One connect + `select 1`; false on any error. */
async function answersQuery(url: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 2_000,
    query_timeout: 2_000,
  });
  let connected = false;
  try {
    await client.connect();
    connected = true;
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    // end() on a client whose connect failed can wait for an 'end' event that never comes.
    if (connected) await client.end().catch(() => undefined);
  }
}

/**
 * initdb and postgres refuse to run as root. Under root, both run as the `postgres` system user
 * (created by Debian's postgresql package) through spawn's uid/gid, so the spawned PID is still the
 * postmaster itself (runuser or pg_ctl would put another process in between).
 */
function engineUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch (error) {
    throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as', {
      cause: error,
    });
  }
}

function childEnv(): NodeJS.ProcessEnv {
  // PG* variables from the developer's shell must not redirect the server or initdb.
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
}

function requireBinary(name: string): string {
  const path = findBinary(name);
  if (path === undefined) {
    throw new Error(`PostgreSQL binary '${name}' not found (install: apt-get install postgresql)`);
  }
  return path;
}

/**
 * Starts a private PostgreSQL (initdb into a new temp dir, then the postmaster directly), ready to
 * accept queries as user `postgres` when the promise resolves.
 *
 * @example
 * const pg = await startPostgres();
 * const url = await pg.createDatabase('orders');
 * // ...
 * await pg.destroy();
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const initdb = requireBinary('initdb');
  const postgres = requireBinary('postgres');
  const user = engineUser();
  const env = childEnv();

  const dir = mkdtempSync(join(tmpdir(), 'groundwork-pg-'));
  trackTempDir(dir);
  if (user.uid !== undefined && user.gid !== undefined) chownSync(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const spawnOptions = { cwd: dir, logFile, env, ...user };

  try {
    const initLog = join(dir, 'initdb.log');
    // C.UTF-8: byte-order collation (deterministic across machines) with Unicode-aware upper/lower.
    const init = spawnEngine(
      initdb,
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'],
      { ...spawnOptions, logFile: initLog, exitSignal: 'SIGKILL' },
    );
    await exited(init);
    if (init.exitCode !== 0) {
      throw new Error(`initdb failed (exit ${init.exitCode ?? init.signalCode}):\n${tailFile(initLog)}`);
    }
  } catch (error) {
    forgetTempDir(dir);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let port = options.port ?? 0;
  let child: ChildProcess | undefined;
  let destroyed = false;

  const url = (database = 'postgres'): string => `postgres://postgres@${HOST}:${port}/${database}`;

  const launch = (): Promise<ChildProcess> =>
    launchUntilReady({
      // SIGQUIT (immediate shutdown) from the exit hook makes the postmaster end its backends too.
      spawn: () =>
        spawnEngine(
          postgres,
          ['-D', dataDir, '-p', String(port), '-k', dir, ...SERVER_SETTINGS.flatMap((s) => ['-c', s])],
          { ...spawnOptions, exitSignal: 'SIGQUIT' },
        ),
      ready: () => answersQuery(url()),
      name: 'postgres',
      logFile,
      stopSignal: 'SIGQUIT',
      what: `PostgreSQL on port ${port} to accept queries`,
      timeoutMs: READY_TIMEOUT_MS,
    });

  try {
    child = await launchOnFreePort(
      options.port,
      (free) => {
        port = free;
      },
      launch,
      /could not bind|Address already in use/,
      BIND_ATTEMPTS,
    );
  } catch (error) {
    forgetTempDir(dir);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const stop = async (): Promise<void> => {
    if (child !== undefined) await stopChild(child, 'SIGINT');
  };

  return {
    get port() {
      return port;
    },
    host: HOST,
    get pid() {
      return child?.pid ?? -1;
    },
    dataDir,
    url,
    createDatabase: (prefix?: string) => createDatabaseAt(url(), prefix),
    stop,
    async start() {
      if (destroyed) throw new Error('startPostgres: start() after destroy()');
      if (child !== undefined && !hasExited(child)) return;
      child = await launch();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop();
      forgetTempDir(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
