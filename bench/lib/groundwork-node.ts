/**
 * One Groundwork node for a benchmark: `node [nodeArgs] bin/groundwork.js start` on a free port,
 * with its own data dir under `scratch` (also its cwd, so a groundwork.config.* in the repository
 * stays out of the run), on SQLite or the given PostgreSQL database, ready when `/readyz` answers;
 * and an admin API key made by `groundwork admin key create`, as an operator would.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.js';
import { type ServerProcess, startServerOnFreePort } from './server-process.js';

export interface GroundworkNodeOptions {
  name: string;
  scratch: string;
  /** A PostgreSQL URL; undefined = the embedded SQLite in the data dir. */
  dbUrl?: string | undefined;
  /** A directory holding `bin/groundwork.js` and its `dist/` (another build); default this checkout. */
  root?: string;
  /** Arguments for node itself, before the script (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
  env: NodeJS.ProcessEnv;
  logLevel?: string;
  /** The node's stdout/stderr file, in `scratch`. Default `stdout.log`. */
  logFile?: string;
}

export interface GroundworkNode {
  server: ServerProcess;
  port: number;
  base: string;
  dataDir: string;
  /** `groundwork admin key create`: a new admin API key of this node; throws when the command fails. */
  createAdminKey(): string;
}

export async function startGroundworkNode(options: GroundworkNodeOptions): Promise<GroundworkNode> {
  const { name, scratch, env } = options;
  const bin = path.join(options.root ?? repoRoot, 'bin', 'groundwork.js');
  const dataDir = path.join(scratch, 'data');
  mkdirSync(dataDir, { recursive: true });
  const dbArgs = options.dbUrl === undefined ? [] : ['--db-url', options.dbUrl];
  const { server, port } = await startServerOnFreePort((p) => ({
    name,
    command: process.execPath,
    args: [
      ...(options.nodeArgs ?? []),
      bin,
      'start',
      '--host',
      '127.0.0.1',
      '--port',
      String(p),
      '--data-dir',
      dataDir,
      '--log-level',
      options.logLevel ?? 'warn',
      ...dbArgs,
    ],
    cwd: scratch,
    env,
    readyUrl: `http://127.0.0.1:${p}/readyz`,
    stdout: path.join(scratch, options.logFile ?? 'stdout.log'),
  }));
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    dataDir,
    createAdminKey() {
      const run = spawnSync(
        process.execPath,
        [bin, 'admin', 'key', 'create', '--name', 'bench', '--data-dir', dataDir, ...dbArgs],
        { cwd: scratch, env, encoding: 'utf8' },
      );
      const key = run.stdout?.trim() ?? '';
      if (run.status !== 0 || key === '' || /\s/.test(key)) {
        throw new Error(
          `${name}: groundwork admin key create failed (exit ${run.status}): ${run.stderr}${run.stdout}`,
        );
      }
      return key;
    },
  };
}
