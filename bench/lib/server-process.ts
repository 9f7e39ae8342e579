import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './port.js';

export interface StartServerOptions {
  /** Shown in messages. */
  name: string;
  /** Executable, e.g. `process.execPath` to run a script with this same Node. */
  command: string;
  args: readonly string[];
  /** A URL that answers 200 once the server is ready. */
  readyUrl: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Where the child's stdout goes: `'ignore'` (default, /dev/null) or a file path (appended).
   * Servers that log per request write there, so it must never be a pipe we have to drain.
   */
  stdout?: 'ignore' | string;
  /** How long to wait for `readyUrl`, in ms (default 20 000). */
  readyTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the process ignored SIGTERM for the grace period and was killed. */
  killed: boolean;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The body of the first 200 answer from `readyUrl`. */
  readonly readyBody: string;
  /** The last few KB the child wrote to stderr (for error messages). */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 000). Safe to call twice. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

const STDERR_TAIL_BYTES = 8_192;
const live = new Set<ChildProcess>();
let cleanupInstalled = false;

/**
 * Starts a server as a child process and resolves once `readyUrl` answers 200 (polled, with a
 * timeout; it fails early if the child exits first). The child is killed if this process exits
 * or is interrupted before `stop` is called, so an aborted benchmark leaves nothing running.
 */
export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const stdoutFd = options.stdout && options.stdout !== 'ignore' ? openSync(options.stdout, 'a') : undefined;
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', stdoutFd ?? 'ignore', 'pipe'],
    });
  } finally {
    if (stdoutFd !== undefined) closeSync(stdoutFd);
  }
  track(child);

  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  await spawned;
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name}: spawn gave no pid`);

  let stopping: Promise<ExitInfo> | undefined;
  const server: ServerProcess = {
    name: options.name,
    pid,
    child,
    readyBody: '',
    stderrTail: () => stderr,
    stop: (graceMs = 5_000) => {
      stopping ??= stopProcess(child, graceMs);
      return stopping;
    },
  };

  try {
    const body = await waitForHttp(options.readyUrl, {
      timeoutMs: options.readyTimeoutMs ?? 20_000,
      child,
    });
    return { ...server, readyBody: body };
  } catch (error) {
    await server.stop();
    const tail = stderr.trim();
    throw new Error(
      `${options.name} (pid ${pid}) did not become ready: ${(error as Error).message}` +
        (tail ? `\n--- stderr ---\n${tail}` : ''),
    );
  }
}

/**
 * `startServer` on a port from `freePort`, retried on a new port if start-up fails (another
 * process may take a checked port before the server binds it). Resolves with the port used.
 */
export async function startServerOnFreePort(
  makeOptions: (port: number) => StartServerOptions,
  attempts = 3,
): Promise<{ server: ServerProcess; port: number }> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = await freePort();
    try {
      return { server: await startServer(makeOptions(port)), port };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * Polls `url` until it answers 200 and resolves with the body. Each attempt uses a fresh
 * connection (`agent: false`), so no keep-alive socket of ours outlives the check.
 */
export async function waitForHttp(
  url: string,
  options: { timeoutMs: number; intervalMs?: number; child?: ChildProcess },
): Promise<string> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no attempt yet';
  while (Date.now() < deadline) {
    const child = options.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`process exited (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    try {
      const { status, body } = await httpGet(url, Math.min(1_000, Math.max(1, deadline - Date.now())));
      if (status === 200) return body;
      last = `HTTP ${status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await delay(options.intervalMs ?? 50);
  }
  throw new Error(`${url} not answering 200 after ${options.timeoutMs} ms (last: ${last})`);
}

/** SIGTERM, wait up to `graceMs` for the exit, then SIGKILL. Resolves once the process is gone. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<ExitInfo> {
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const exit = new Promise<void>((resolve) => {
    if (exited()) resolve();
    else child.once('exit', () => resolve());
  });
  let killed = false;
  if (!exited()) {
    child.kill('SIGTERM');
    const timer = delay(graceMs, 'timeout' as const);
    if ((await Promise.race([exit.then(() => 'exit' as const), timer])) === 'timeout') {
      killed = true;
      child.kill('SIGKILL');
    }
    await exit;
  }
  live.delete(child);
  return { code: child.exitCode, signal: child.signalCode, killed };
}

/**
 * Registers a child to be killed if this process ends first (normal exit, uncaught error, or
 * SIGINT/SIGTERM — Node skips 'exit' handlers on a default-handled signal, hence the handlers).
 */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping ${live.size} child process(es)\n`);
      for (const c of live) c.kill('SIGTERM');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}
