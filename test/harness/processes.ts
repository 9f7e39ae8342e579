import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';

/**
 * Engine processes and temp dirs this process started and has not cleaned up yet. They are ended by
 * PID (never by name) when this process exits or is told to stop, so a crashed or interrupted run
 * leaves nothing behind.
 */
const liveProcesses = new Map<number, NodeJS.Signals>();
const liveDirs = new Set<string>();
let hooksInstalled = false;

/** Synchronous: it also runs inside an `exit` listener, where nothing asynchronous completes. */
function cleanUpNow(): void {
  for (const [pid, signal] of liveProcesses) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
  liveProcesses.clear();
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A process still shutting down may be writing into it; a leftover temp dir is harmless.
    }
  }
  liveDirs.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanUpNow);
  // Vitest ends its fork workers with SIGTERM, whose default action skips `exit` listeners: a test file
  // that never called destroy() would leak its engines. Clean up, then, if nobody else handles the
  // signal (vitest's main process does, by calling process.exit), re-raise it to keep the default.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanUpNow();
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    // First in line, so a once-listener of vitest's is still counted when we decide.
    process.prependListener(signal, onSignal);
  }
  // A vitest fork worker outlives a main process that was killed (vitest exits on SIGTERM without
  // stopping its workers); the IPC channel closing is the only sign. Outside vitest workers a parent
  // may legitimately disconnect, so this is limited to them.
  if (process.env.VITEST_POOL_ID !== undefined && process.send !== undefined) {
    process.once('disconnect', cleanUpNow);
  }
}

/** Removes `dir` when this process exits, unless {@link forgetTempDir} is called first. */
export function trackTempDir(dir: string): void {
  installHooks();
  liveDirs.add(dir);
}

export function forgetTempDir(dir: string): void {
  liveDirs.delete(dir);
}

/**
 * Kills `child` with SIGKILL when this process exits or is signalled (vitest stops workers with
 * SIGTERM, which skips plain 'exit' listeners), unless it has exited first.
 */
export function trackChild(child: ChildProcess): void {
  installHooks();
  const pid = child.pid;
  if (pid === undefined) return;
  liveProcesses.set(pid, 'SIGKILL');
  child.once('exit', () => liveProcesses.delete(pid));
}

export interface SpawnEngineOptions {
  cwd: string;
  /** stdout and stderr are appended here, never to the test's own output. */
  logFile: string;
  /** Signal sent by the exit hook: one that makes the engine stop its own children too. */
  exitSignal: NodeJS.Signals;
  uid?: number | undefined;
  gid?: number | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * Spawns `command` directly (no shell, no wrapper such as pg_ctl or runuser), so `child.pid` is the
 * engine itself and can be signalled precisely. The process is tracked until it exits.
 */
export function spawnEngine(
  command: string,
  args: readonly string[],
  options: SpawnEngineOptions,
): ChildProcess {
  installHooks();
  const logFd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', logFd, logFd],
      uid: options.uid,
      gid: options.gid,
    });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid !== undefined) {
    liveProcesses.set(pid, options.exitSignal);
    child.once('exit', () => liveProcesses.delete(pid));
  }
  // Without a listener a spawn failure (ENOENT, EACCES) would be an uncaught exception.
  child.once('error', () => undefined);
  return child;
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child has exited (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

/** Sends `signal`, waits for the exit; escalates to SIGKILL after `killAfterMs`. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  killAfterMs = 10_000,
): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return;
  const done = exited(child);
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const escalate = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (!hasExited(child)) child.kill('SIGKILL');
      resolve();
    }, killAfterMs);
  });
  try {
    await Promise.race([done, escalate]);
    await done;
  } finally {
    clearTimeout(timer);
  }
}

/** Current size of a log file, to pass as `fromByte` to {@link tailFile} (0 if it does not exist). */
export function logSize(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

/** The last `lines` lines of a log file written since `fromByte`, for error messages. */
export function tailFile(path: string, lines = 30, fromByte = 0): string {
  try {
    const text = readFileSync(path).subarray(fromByte).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
