import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export type Engine = 'postgres' | 'redis';

/** Binaries each engine needs, and the Debian package that provides them. */
const ENGINE_BINARIES: Record<Engine, { binaries: readonly string[]; aptPackage: string }> = {
  postgres: { binaries: ['initdb', 'postgres'], aptPackage: 'postgresql' },
  redis: { binaries: ['redis-server'], aptPackage: 'redis-server' },
};

const POSTGRES_LIB = '/usr/lib/postgresql';

const binaryCache = new Map<string, string | undefined>();

/** `/usr/lib/postgresql/<version>/bin`, newest version first. */
function postgresBinDirs(): string[] {
  let versions: string[];
  try {
    versions = readdirSync(POSTGRES_LIB);
  } catch {
    return [];
  }
  return versions
    .filter((version) => /^\d+(\.\d+)?$/.test(version))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((version) => join(POSTGRES_LIB, version, 'bin'));
}

/** A file that exists, is executable and answers `--version` (so a broken stub does not count). */
function runs(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    execFileSync(path, ['--version'], { stdio: 'pipe', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds an engine binary: the versioned PostgreSQL directories first (newest first; Debian does not
 * put `initdb`/`postgres` on PATH), then PATH. Only candidates that run `--version` are returned.
 */
export function findBinary(name: string): string | undefined {
  if (binaryCache.has(name)) return binaryCache.get(name);
  const pathDirs = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  let found: string | undefined;
  for (const dir of [...postgresBinDirs(), ...pathDirs]) {
    const candidate = join(dir, name);
    if (runs(candidate)) {
      found = candidate;
      break;
    }
  }
  binaryCache.set(name, found);
  return found;
}

/** CI sets `GROUNDWORK_REQUIRE_ENGINES=1`: a missing engine fails the run instead of skipping suites. */
export function requireEngines(): boolean {
  return process.env.GROUNDWORK_REQUIRE_ENGINES === '1';
}

/**
 * Whether the engine's binaries are installed. When they are not: throws if engines are required,
 * otherwise prints one loud notice (once per run) and returns false so suites can `skipIf`.
 */
export function engineAvailable(engine: Engine): boolean {
  const { binaries, aptPackage } = ENGINE_BINARIES[engine];
  const missing = binaries.filter((name) => findBinary(name) === undefined);
  if (missing.length === 0) return true;
  if (requireEngines()) {
    throw new Error(
      `GROUNDWORK_REQUIRE_ENGINES=1 but ${engine} binaries are missing: ${missing.join(', ')} ` +
        `(install with: apt-get install -y --no-install-recommends ${aptPackage})`,
    );
  }
  // Vitest's global setup and every worker process ask; the environment variable, inherited by the
  // workers, keeps it to one notice per run.
  const noticeVariable = `GROUNDWORK_SKIP_NOTICE_${engine.toUpperCase()}`;
  if (process.env[noticeVariable] !== '1') {
    process.env[noticeVariable] = '1';
    process.stderr.write(
      `\n*** SKIPPING ${engine} suites: binaries not found (${missing.join(', ')}; ` +
        `install ${aptPackage}) ***\n\n`,
    );
  }
  return false;
}

/**
 * A port in 20000–32767 (below the kernel's ephemeral range) that can be bound on 127.0.0.1 right
 * now: the platform's own picker. Another process may still take it before the engine binds it:
 * the engine starters retry on a bind failure.
 */
export { freePort } from '../../src/net/free-port.js';

const EXPIRED = Symbol('expired');

export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between polls; default 50 ms. */
  intervalMs?: number;
  /** What is awaited, for the timeout message ("PostgreSQL on port 15432 to accept queries"). */
  what: string;
}

/**
 * Polls `condition` until it returns true. Throws on timeout, also when a single call of `condition`
 * never settles; an error thrown by `condition` stops the wait at once (use that to fail fast, e.g.
 * when the process being awaited has exited).
 */
export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  { timeoutMs, intervalMs = 50, what }: WaitForOptions,
): Promise<void> {
  const started = Date.now();
  const timedOut = (): Error => new Error(`Timed out after ${Date.now() - started} ms waiting for ${what}`);
  for (;;) {
    const remaining = timeoutMs - (Date.now() - started);
    if (remaining <= 0) throw timedOut();
    const controller = new AbortController();
    const deadline = delay(remaining, EXPIRED, { signal: controller.signal }).catch(() => EXPIRED);
    try {
      const result = await Promise.race([condition(), deadline]);
      if (result === EXPIRED) throw timedOut();
      if (result) return;
    } finally {
      controller.abort();
    }
    await delay(Math.max(0, Math.min(intervalMs, timeoutMs - (Date.now() - started))));
  }
}
