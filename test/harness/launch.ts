/**
 * Starting an engine process (PostgreSQL, Redis) for tests: spawn it, wait until it answers, and
 * report an early exit with the lines it logged; pick a free port and, when another process binds
 * that port first, start again on a new one.
 */
import type { ChildProcess } from 'node:child_process';
import { freePort, waitFor } from './engines.js';
import { exited, hasExited, logSize, stopChild, tailFile } from './processes.js';

/** The process ended before it was ready; the message holds its new log lines. */
export class EarlyExit extends Error {}

export interface LaunchSpec {
  /** Spawns the process (with the port already chosen). */
  readonly spawn: () => ChildProcess;
  /** True once the process serves (a query answered, a PING answered). */
  readonly ready: () => Promise<boolean>;
  /** The binary's name, for messages. */
  readonly name: string;
  /** Its log file: the lines written during this launch go into errors. */
  readonly logFile: string;
  /** Sent to stop it when it does not get ready. */
  readonly stopSignal: NodeJS.Signals;
  /** What is awaited, for the timeout's message. */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
}

/** Spawns the process and resolves once it is ready; stops it and rejects otherwise. */
export async function launchUntilReady(spec: LaunchSpec): Promise<ChildProcess> {
  const logStart = logSize(spec.logFile);
  const newLog = (): string => tailFile(spec.logFile, 30, logStart);
  const proc = spec.spawn();
  try {
    await waitFor(
      async () => {
        // Racing the exit: a dead server is reported at once, not after a connect timeout.
        const ready = await Promise.race([spec.ready(), exited(proc).then(() => false)]);
        if (hasExited(proc)) {
          throw new EarlyExit(
            `${spec.name} exited during startup (${proc.exitCode ?? proc.signalCode}):\n${newLog()}`,
          );
        }
        return ready;
      },
      {
        timeoutMs: spec.timeoutMs,
        what: spec.what,
        ...(spec.intervalMs ? { intervalMs: spec.intervalMs } : {}),
      },
    );
  } catch (error) {
    await stopChild(proc, spec.stopSignal, 2_000);
    if (error instanceof EarlyExit) throw error;
    throw new Error(`${(error as Error).message}; log tail:\n${newLog()}`, { cause: error });
  }
  return proc;
}

/**
 * Runs `launch` on `fixedPort`, or on a free port chosen here (told through `usePort` first).
 * `freePort()` cannot reserve a port, so another process may bind it first: when the launch exits
 * early with a log matching `bindError`, it is run again on a new port, up to `attempts` times.
 */
export async function launchOnFreePort<T>(
  fixedPort: number | undefined,
  usePort: (port: number) => void,
  launch: () => Promise<T>,
  bindError: RegExp,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (fixedPort === undefined) usePort(await freePort());
    try {
      return await launch();
    } catch (error) {
      const lostRace = error instanceof EarlyExit && bindError.test(error.message);
      if (!lostRace || fixedPort !== undefined || attempt >= attempts) throw error;
    }
  }
}
