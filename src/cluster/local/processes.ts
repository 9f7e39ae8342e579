import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClusterProcess } from './cluster-state.js';

/**
 * Detached processes for the local cluster: they outlive the `cluster up` command, write to their
 * own log file, and are stopped by PID.
 */
export function spawnDetached(p: Omit<ClusterProcess, 'pid' | 'name' | 'kind' | 'port' | 'url'>): number {
  const log = openSync(p.logFile, 'a');
  try {
    const child = spawn(p.command, [...p.args], {
      cwd: p.cwd,
      env: { ...baseEnv(), ...p.env },
      detached: true,
      stdio: ['ignore', log, log],
      ...(p.uid !== undefined ? { uid: p.uid } : {}),
      ...(p.gid !== undefined ? { gid: p.gid } : {}),
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${p.command}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** The launcher's environment without Groundwork and libpq settings, which each process gets explicitly. */
function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('GROUNDWORK_') && !key.startsWith('PG')),
  );
}

/** True while the process exists and is not a zombie (exited, not yet reaped by its parent). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill(0) is the answer
  }
}

/** Sends `signal`, waits up to `timeoutMs` for the process to go, then SIGKILLs it. */
export async function stopPid(pid: number, signal: NodeJS.Signals, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await delay(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  while (isAlive(pid)) await delay(20);
}

/** Polls `check` every 100 ms until true; throws with `what` after `timeoutMs`, or at once if `pid` exits. */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: { pid: number; what: string; timeoutMs: number; logFile: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(options.pid))
      throw new Error(`${options.what}: the process exited (see ${options.logFile})`);
    if (await check().catch(() => false)) return;
    await delay(100);
  }
  throw new Error(`${options.what}: not ready after ${options.timeoutMs} ms (see ${options.logFile})`);
}
