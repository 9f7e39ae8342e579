import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/engines.js';
import { dataTargets } from '../support/data-api.js';
import { runCli, type Spawned, startCli, waitForStarted } from '../support/process.js';

/**
 * kill -9 in the middle of a write burst: every create the server acknowledged (201) must be
 * there after a restart. SQLite runs in WAL mode (a commit is in the WAL before the reply);
 * PostgreSQL commits before the reply.
 */
for (const target of dataTargets()) {
  describe.skipIf(!target.available)(`durability under kill -9: ${target.name}`, () => {
    const running: Spawned[] = [];
    afterAll(() => {
      for (const run of running) if (run.child.exitCode === null) run.child.kill('SIGKILL');
    });

    it('loses no acknowledged write', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'gw-kill-'));
      const dbUrl = await target.url();
      const args = ['start', '--port', '0', '--data-dir', dataDir, '--db-url', dbUrl];
      const keyRun = await runCli([
        'admin',
        'key',
        'create',
        '--name',
        'kill',
        '--data-dir',
        dataDir,
        '--db-url',
        dbUrl,
      ]);
      expect(keyRun.code, keyRun.stderr).toBe(0);
      const key = keyRun.stdout.trim();
      expect(key).toMatch(/^gwk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

      const first = startCli(args);
      running.push(first);
      const url = await waitForStarted(first);
      const created = await fetch(`${url}/api/v1/collections`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'burst', fields: [{ name: 'n', type: 'number', integer: true }] }),
      });
      expect(created.status).toBe(201);

      const acknowledged: string[] = [];
      let n = 0;
      let killed = false;
      const worker = async () => {
        while (!killed) {
          try {
            const res = await fetch(`${url}/api/v1/collections/burst/records`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ n: n++ }),
            });
            if (res.status === 201) acknowledged.push(((await res.json()) as { id: string }).id);
          } catch {
            // the connection died with the server
          }
        }
      };
      const workers = Array.from({ length: 16 }, worker);
      await waitFor(() => acknowledged.length >= 300, { timeoutMs: 30_000, what: '300 acknowledged writes' });
      first.child.kill('SIGKILL');
      killed = true;
      await first.exited;
      await Promise.all(workers);
      const ackedAtKill = [...acknowledged];

      const second = startCli(args);
      running.push(second);
      const url2 = await waitForStarted(second);
      const found = new Set<string>();
      let next = `/api/v1/collections/burst/records?limit=500`;
      while (next) {
        const page = (await (await fetch(`${url2}${next}`, { headers })).json()) as {
          items: { id: string }[];
          links: { next?: string };
        };
        for (const item of page.items) found.add(item.id);
        next = page.links.next ?? '';
      }
      const lost = ackedAtKill.filter((id) => !found.has(id));
      expect(lost).toEqual([]);
      expect(found.size).toBeGreaterThanOrEqual(ackedAtKill.length);
      second.child.kill('SIGTERM');
      await second.exited;
    }, 90_000);
  });
}
