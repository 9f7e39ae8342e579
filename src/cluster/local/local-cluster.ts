import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../net/free-port.js';
import {
  type ClusterProcess,
  type ClusterState,
  clusterDir,
  readClusterState,
  removeClusterState,
  writeClusterState,
} from './cluster-state.js';
import { ensureDatabase, redisPing, startPostgres, startRedis } from './engines.js';
import { isAlive, spawnDetached, stopPid, waitUntil } from './processes.js';

/**
 * `groundwork cluster up | status | kill | restart | down`: a real cluster on one machine — a
 * PostgreSQL and a Redis from the machine's binaries (unless URLs are given), N Groundwork API nodes
 * sharing them, and a Groundwork edge node balancing over the API nodes. Every process is detached,
 * logs to a file under `<dataDir>/cluster/`, and is found again by the PID in `cluster.json`.
 */
export interface ClusterUpOptions {
  readonly dataDir: string;
  readonly nodes: number;
  readonly lb: string;
  readonly dbUrl?: string | undefined;
  readonly redisUrl?: string | undefined;
  /** Extra environment for every Groundwork node (e.g. GROUNDWORK_ADMIN_EMAIL). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ProcessStatus {
  readonly name: string;
  readonly kind: ClusterProcess['kind'];
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly alive: boolean;
  readonly healthy: boolean;
  /** HTTP requests served (from `/metrics`), for Groundwork nodes that answer. */
  readonly requests: number | undefined;
}

const BIN = fileURLToPath(new URL('../../../bin/groundwork.js', import.meta.url));
export const MAX_NODES = 16;

export async function clusterUp(
  options: ClusterUpOptions,
  log: (line: string) => void = () => {},
): Promise<ClusterState> {
  const existing = readClusterState(options.dataDir);
  if (existing?.processes.some((p) => isAlive(p.pid)))
    throw new Error(
      `a cluster is already up in ${clusterDir(options.dataDir)} (run: groundwork cluster down)`,
    );
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > MAX_NODES)
    throw new Error(`--nodes must be 1–${MAX_NODES}`);
  const dir = clusterDir(options.dataDir);
  mkdirSync(dir, { recursive: true });
  const processes: ClusterProcess[] = [];
  const save = (dbUrl: string, redisUrl: string) =>
    writeClusterState(options.dataDir, {
      version: 1,
      createdAt: new Date().toISOString(),
      lb: options.lb,
      dbUrl,
      redisUrl,
      processes,
    });
  try {
    let serverUrl = options.dbUrl;
    if (serverUrl === undefined) {
      const postgres = await startPostgres(join(dir, 'postgres'), await freePort());
      processes.push(postgres);
      save('', '');
      serverUrl = postgres.url;
      log(`postgres  pid ${postgres.pid}  ${postgres.url}`);
    }
    const dbUrl = options.dbUrl ?? (await ensureDatabase(serverUrl, 'groundwork'));
    let redisUrl = options.redisUrl;
    if (redisUrl === undefined) {
      const redis = await startRedis(join(dir, 'redis'), await freePort());
      processes.push(redis);
      redisUrl = redis.url;
      log(`redis     pid ${redis.pid}  ${redis.url}`);
    }
    save(dbUrl, redisUrl);
    // Nodes start one after the other: the first runs the migrations (the others would wait on its lock).
    const apiUrls: string[] = [];
    for (let i = 1; i <= options.nodes; i++) {
      const node = await startNode(dir, `node-${i}`, 'api', {
        ...options.env,
        GROUNDWORK_DB_URL: dbUrl,
        GROUNDWORK_RATE_LIMIT_URL: redisUrl,
      });
      processes.push(node);
      save(dbUrl, redisUrl);
      apiUrls.push(node.url);
      log(`${node.name.padEnd(9)} pid ${node.pid}  ${node.url}`);
    }
    const edge = await startNode(dir, 'edge', 'edge', {
      ...options.env,
      GROUNDWORK_DB_URL: `sqlite://${join(dir, 'edge', 'edge.db')}`,
      GROUNDWORK_RATE_LIMIT_URL: redisUrl,
      ...edgeEnvironment(apiUrls, options.lb),
    });
    processes.push(edge);
    save(dbUrl, redisUrl);
    log(`edge      pid ${edge.pid}  ${edge.url}  (${options.lb} over ${apiUrls.length} nodes)`);
    return readClusterState(options.dataDir) as ClusterState;
  } catch (error) {
    // Leave nothing running behind a failed start.
    for (const p of [...processes].reverse()) await stopPid(p.pid, stopSignal(p.kind));
    removeClusterState(options.dataDir);
    throw error;
  }
}

async function startNode(
  dir: string,
  name: string,
  kind: 'api' | 'edge',
  env: Record<string, string>,
): Promise<ClusterProcess> {
  const nodeDir = join(dir, name);
  mkdirSync(nodeDir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const base = {
      command: process.execPath,
      args: [BIN, 'start'],
      env: {
        ...env,
        GROUNDWORK_HOST: '127.0.0.1',
        GROUNDWORK_PORT: String(port),
        GROUNDWORK_DATA_DIR: nodeDir,
        GROUNDWORK_LOG_LEVEL: env.GROUNDWORK_LOG_LEVEL ?? 'warn',
      },
      cwd: nodeDir,
      logFile: join(nodeDir, `${name}.log`),
    };
    const pid = spawnDetached(base);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil(() => answersReady(url), { pid, what: name, timeoutMs: 60_000, logFile: base.logFile });
      return { ...base, name, kind, pid, port, url };
    } catch (error) {
      await stopPid(pid, 'SIGTERM');
      // Another process may have taken the port between the check and the bind: try another.
      if (attempt >= 2) throw error;
    }
  }
}

/** Configuration of the edge node, as environment: one route for everything to the API nodes. */
function edgeEnvironment(apiUrls: readonly string[], lb: string): Record<string, string> {
  return {
    GROUNDWORK_EDGE: JSON.stringify({
      serveApi: false,
      routes: [{ prefix: '/', group: 'api', access: 'public' }],
      groups: {
        api: {
          targets: apiUrls.map((url) => ({ url })),
          balancer: lb,
          healthCheck: { path: '/readyz' },
        },
      },
    }),
  };
}

async function answersReady(url: string): Promise<boolean> {
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.status === 200;
}

function stopSignal(kind: ClusterProcess['kind']): NodeJS.Signals {
  // PostgreSQL: SIGINT is "fast shutdown" (ends sessions, checkpoints); SIGTERM would wait for clients.
  return kind === 'postgres' ? 'SIGINT' : 'SIGTERM';
}

export async function clusterStatus(dataDir: string): Promise<ProcessStatus[]> {
  const state = requireState(dataDir);
  return Promise.all(state.processes.map((p) => processStatus(p)));
}

async function processStatus(p: ClusterProcess): Promise<ProcessStatus> {
  const alive = isAlive(p.pid);
  let healthy = false;
  let requests: number | undefined;
  if (alive) {
    if (p.kind === 'redis') healthy = await redisPing(p.port);
    else if (p.kind === 'postgres') healthy = true;
    else {
      healthy = await answersReady(p.url).catch(() => false);
      requests = await requestCount(p.url).catch(() => undefined);
    }
  }
  return { name: p.name, kind: p.kind, pid: p.pid, port: p.port, url: p.url, alive, healthy, requests };
}

/** Sum of `http_request_duration_seconds_count` over every route (the node's own request counter). */
async function requestCount(url: string): Promise<number> {
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const text = await response.text();
  let total = 0;
  for (const match of text.matchAll(/^http_request_duration_seconds_count\{[^}]*\} (\d+(?:\.\d+)?)$/gm))
    total += Number(match[1]);
  return total;
}

/** SIGKILLs one process (a crash, for fault demos); the cluster keeps its entry for `restart`. */
export async function clusterKill(dataDir: string, name: string): Promise<ClusterProcess> {
  const p = findProcess(requireState(dataDir), name);
  await stopPid(p.pid, 'SIGKILL', 1_000);
  return p;
}

/** Stops the process if it runs, then starts it again with the same command, port and environment. */
export async function clusterRestart(dataDir: string, name: string): Promise<ClusterProcess> {
  const state = requireState(dataDir);
  const p = findProcess(state, name);
  await stopPid(p.pid, stopSignal(p.kind));
  p.pid = spawnDetached(p);
  writeClusterState(dataDir, state);
  const ready =
    p.kind === 'redis'
      ? () => redisPing(p.port)
      : p.kind === 'postgres'
        ? async () => true
        : () => answersReady(p.url);
  await waitUntil(ready, { pid: p.pid, what: p.name, timeoutMs: 60_000, logFile: p.logFile });
  return p;
}

/** Stops everything the cluster started (edge and nodes first, then Redis and PostgreSQL), by PID. */
export async function clusterDown(dataDir: string): Promise<number> {
  const state = readClusterState(dataDir);
  if (!state) return 0;
  const order: ClusterProcess['kind'][] = ['edge', 'api', 'redis', 'postgres'];
  let stopped = 0;
  for (const kind of order) {
    const batch = state.processes.filter((p) => p.kind === kind && isAlive(p.pid));
    await Promise.all(batch.map((p) => stopPid(p.pid, stopSignal(p.kind))));
    stopped += batch.length;
  }
  removeClusterState(dataDir);
  return stopped;
}

function requireState(dataDir: string): ClusterState {
  const state = readClusterState(dataDir);
  if (!state) throw new Error(`no cluster in ${clusterDir(dataDir)} (run: groundwork cluster up)`);
  return state;
}

function findProcess(state: ClusterState, name: string): ClusterProcess {
  const p = state.processes.find((x) => x.name === name);
  if (!p) throw new Error(`no process "${name}" (one of: ${state.processes.map((x) => x.name).join(', ')})`);
  return p;
}
