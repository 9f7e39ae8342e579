import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `groundwork cluster up` started, kept in `<dataDir>/cluster/cluster.json` so later commands
 * (status, kill, restart, down) find every process by PID — never by name.
 */
export type ClusterProcessKind = 'postgres' | 'redis' | 'api' | 'edge';

export interface ClusterProcess {
  /** `postgres`, `redis`, `node-1` … `node-N`, `edge`. */
  readonly name: string;
  readonly kind: ClusterProcessKind;
  pid: number;
  readonly port: number;
  /** Base URL of the process (`http://…`, `postgres://…`, `redis://…`). */
  readonly url: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Environment added to the launcher's own (Groundwork nodes: their config). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logFile: string;
  /** Run as this user (PostgreSQL refuses to run as root). */
  readonly uid?: number;
  readonly gid?: number;
}

export interface ClusterState {
  readonly version: 1;
  readonly createdAt: string;
  readonly lb: string;
  readonly dbUrl: string;
  readonly redisUrl: string;
  readonly processes: ClusterProcess[];
}

export function clusterDir(dataDir: string): string {
  return join(dataDir, 'cluster');
}

function stateFile(dataDir: string): string {
  return join(clusterDir(dataDir), 'cluster.json');
}

export function readClusterState(dataDir: string): ClusterState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as ClusterState;
}

/** Written to a temp file and renamed, so a crash never leaves half a state file. */
export function writeClusterState(dataDir: string, state: ClusterState): void {
  mkdirSync(clusterDir(dataDir), { recursive: true });
  const file = stateFile(dataDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function removeClusterState(dataDir: string): void {
  rmSync(stateFile(dataDir), { force: true });
}
