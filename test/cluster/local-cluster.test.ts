import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterState } from '../../src/cluster/local/cluster-state.js';
import { isAlive } from '../../src/cluster/local/processes.js';
import { engineAvailable, waitFor } from '../harness/engines.js';
import { ROOT, runCli } from '../support/process.js';

/**
 * `groundwork cluster up | status | kill | restart | down` end to end: a real PostgreSQL and Redis
 * from the machine's binaries, two API nodes and the edge, all detached processes found by PID.
 */
const available = engineAvailable('postgres') && engineAvailable('redis');

describe.runIf(available)('local cluster', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-cluster-'));
  // As root, PostgreSQL runs as user postgres, which must be able to enter the directory.
  chmodSync(dataDir, 0o755);
  const cli = (...args: string[]) => runCli(['cluster', ...args, '--data-dir', dataDir]);

  beforeAll(() => {
    // The cluster runs `node bin/groundwork.js`, i.e. the build.
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: ROOT },
    );
  }, 90_000);

  afterAll(async () => {
    const state = readClusterState(dataDir);
    await cli('down');
    // Whatever happened above, nothing may be left running.
    for (const p of state?.processes ?? []) if (isAlive(p.pid)) process.kill(p.pid, 'SIGKILL');
  }, 60_000);

  function rows(stdout: string) {
    return stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const [name, kind, pid, port, state, requests, url] = line.trim().split(/\s+/);
        return {
          name: name!,
          kind: kind!,
          pid: Number(pid),
          port: Number(port),
          state: state!,
          requests,
          url: url!,
        };
      });
  }

  it('up --nodes 3 starts PostgreSQL, Redis, three API nodes and the edge; status reports them healthy', async () => {
    const up = await cli('up', '--nodes', '3', '--lb', 'round-robin');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('round-robin over 3 nodes');
    const status = await cli('status');
    expect(status.code, status.stderr).toBe(0);
    const all = rows(status.stdout);
    expect(all.map((r) => r.name)).toEqual(['postgres', 'redis', 'node-1', 'node-2', 'node-3', 'edge']);
    for (const r of all) {
      expect(r.state, r.name).toBe('healthy');
      expect(r.port).toBeLessThan(32768);
      expect(isAlive(r.pid)).toBe(true);
    }
  }, 120_000);

  it('the edge spreads requests over the three nodes', async () => {
    const before = rows((await cli('status')).stdout);
    const edge = before.find((r) => r.name === 'edge')!.url;
    for (let i = 0; i < 60; i++) {
      const response = await fetch(`${edge}/api/v1/collections`);
      await response.body?.cancel();
      expect(response.status).toBe(401); // answered by an API node: listing collections is admin-only
    }
    const after = rows((await cli('status')).stdout);
    for (const name of ['node-1', 'node-2', 'node-3']) {
      const served =
        Number(after.find((r) => r.name === name)!.requests) -
        Number(before.find((r) => r.name === name)!.requests);
      expect(served, name).toBeGreaterThanOrEqual(15);
    }
  }, 60_000);

  it('a second up refuses while the cluster runs', async () => {
    const again = await cli('up', '--nodes', '1');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already up');
  });

  it('kill crashes one node (status: down; the edge keeps answering), restart brings it back on the same port', async () => {
    const all = rows((await cli('status')).stdout);
    const before = all.find((r) => r.name === 'node-2')!;
    const edge = all.find((r) => r.name === 'edge')!.url;
    const kill = await cli('kill', 'node-2');
    expect(kill.code, kill.stderr).toBe(0);
    expect(isAlive(before.pid)).toBe(false);
    expect(rows((await cli('status')).stdout).find((r) => r.name === 'node-2')!.state).toBe('down');
    // Requests through the edge still succeed: a refused connection is retried on another node.
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${edge}/api/v1/collections`);
      await response.body?.cancel();
      expect(response.status).toBe(401);
    }
    const restart = await cli('restart', 'node-2');
    expect(restart.code, restart.stderr).toBe(0);
    const after = rows((await cli('status')).stdout).find((r) => r.name === 'node-2')!;
    expect(after.state).toBe('healthy');
    expect(after.port).toBe(before.port);
    expect(after.pid).not.toBe(before.pid);
  }, 90_000);

  it('down stops every process it started, by PID', async () => {
    const pids = readClusterState(dataDir)!.processes.map((p) => p.pid);
    const down = await cli('down');
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain('stopped 6 process(es)');
    await waitFor(() => pids.every((pid) => !isAlive(pid)), {
      timeoutMs: 10_000,
      what: 'every cluster process to exit',
    });
    expect((await cli('status')).code).toBe(1);
  }, 60_000);
});
