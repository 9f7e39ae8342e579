import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { waitFor } from '../harness/engines.js';
import { trackChild } from '../harness/processes.js';

const CLI = fileURLToPath(new URL('./groundwork-cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// An absolute loader path, so spawned processes find tsx whatever their working directory.
const TSX_LOADER = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns a TypeScript entry file with tsx, capturing output. Killed by PID if the test or its worker dies. */
export function spawnTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Spawned {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, file, ...args], {
    cwd,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  trackChild(child);
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs the groundwork CLI from source to completion. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cwd = ROOT,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = spawnTs(CLI, args, env, cwd);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Spawned {
  return spawnTs(CLI, args, env, cwd);
}

/** Waits until a spawned server logs its start line and returns the URL it printed. */
export async function waitForStarted(run: Spawned, timeoutMs = 20_000): Promise<string> {
  let url = '';
  await waitFor(
    () => {
      if (run.child.exitCode !== null)
        throw new Error(`server exited early:\n${run.stderr()}\n${run.stdout()}`);
      const match = /"url":"([^"]+)"[^\n]*"msg":"groundwork started"/.exec(run.stdout());
      if (match) url = match[1]!;
      return Boolean(match);
    },
    { timeoutMs, intervalMs: 25, what: 'groundwork to log "groundwork started"' },
  );
  return url;
}

/** The environment without GROUNDWORK_* from the developer's shell, so tests see defaults. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('GROUNDWORK_')) env[key] = value;
  return env;
}

export { ROOT };
