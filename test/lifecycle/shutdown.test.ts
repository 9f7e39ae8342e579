import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/engines.js';
import { type Spawned, spawnTs, waitForStarted } from '../support/process.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/slow-server.ts', import.meta.url));

async function startSlowServer(env: Record<string, string> = {}): Promise<{ run: Spawned; url: string }> {
  const run = spawnTs(FIXTURE, [], {
    GROUNDWORK_PORT: '0',
    GROUNDWORK_DATA_DIR: mkdtempSync(join(tmpdir(), 'gw-shutdown-')),
    ...env,
  });
  return { run, url: await waitForStarted(run) };
}

async function slowRequestStarted(run: Spawned): Promise<void> {
  await waitFor(() => run.stdout().includes('slow request started'), {
    timeoutMs: 10_000,
    intervalMs: 10,
    what: 'slow request to start',
  });
}

describe('graceful shutdown (real process)', () => {
  it('SIGTERM lets an in-flight request finish, refuses new connections, and exits 0', async () => {
    const { run, url } = await startSlowServer();
    const inFlight = fetch(`${url}/test/slow?ms=1500`);
    await slowRequestStarted(run);
    run.child.kill('SIGTERM');
    await waitFor(() => run.stdout().includes('shutting down'), {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'shutdown to begin',
    });

    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sleptMs: 1500 });
    const { code, signal } = await run.exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(run.stdout()).toContain('shutdown complete');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('cuts requests still running when the drain timeout ends, then exits 0', async () => {
    const { run, url } = await startSlowServer({ GROUNDWORK_DRAIN_TIMEOUT_MS: '300' });
    const inFlight = fetch(`${url}/test/slow?ms=20000`).then(
      (r) => r.status,
      () => 'connection cut',
    );
    await slowRequestStarted(run);
    const signalledAt = performance.now();
    run.child.kill('SIGTERM');
    expect(await inFlight).toBe('connection cut');
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(10_000);
    expect(run.stdout()).toContain('drain timeout reached');
  });

  it('a second signal exits at once without waiting for the drain', async () => {
    const { run, url } = await startSlowServer({ GROUNDWORK_DRAIN_TIMEOUT_MS: '60000' });
    const inFlight = fetch(`${url}/test/slow?ms=30000`).catch(() => 'connection cut');
    await slowRequestStarted(run);
    run.child.kill('SIGTERM');
    await waitFor(() => run.stdout().includes('shutting down'), {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'shutdown to begin',
    });
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(await inFlight).toBe('connection cut');
  });
});
