import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPaymentsTable, registerPaymentRoutes } from '../fixtures/payments.js';
import { waitFor } from '../harness/engines.js';
import { sharedPostgres } from '../harness/shared-engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { spawnTs, waitForStarted } from '../support/process.js';

const postgres = sharedPostgres();
const targets = [
  {
    name: 'sqlite',
    available: true,
    url: async () => `sqlite://${join(mkdtempSync(join(tmpdir(), 'gw-idem-')), 'gw.db')}`,
  },
  { name: 'postgres', available: postgres.available, url: () => postgres.createDatabase('idemhttp') },
];

function post(url: string, body: unknown, key?: string, extra: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}), ...extra },
    body: JSON.stringify(body),
  });
}

for (const target of targets) {
  describe.skipIf(!target.available)(`Idempotency-Key over HTTP: ${target.name}`, () => {
    let gw: TestPlatform;
    let dbUrl: string;
    const count = async () =>
      Number(
        (
          await gw.platform.database.kysely
            .selectFrom('payments')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    beforeAll(async () => {
      dbUrl = await target.url();
      gw = await startTestPlatform({ db: { url: dbUrl, poolMax: 20 } }, registerPaymentRoutes);
      await createPaymentsTable(gw.platform);
    });
    afterAll(() => gw?.close());

    it('100 concurrent identical POSTs with one key create exactly one payment', async () => {
      const before = await count();
      const responses = await Promise.all(
        Array.from({ length: 100 }, () => post(`${gw.url}/test/payments`, { amount: 42 }, '"pay-100"')),
      );
      expect((await count()) - before).toBe(1);
      const created = responses.filter(
        (r) => r.status === 201 && r.headers.get('idempotent-replayed') === null,
      );
      const replayed = responses.filter(
        (r) => r.status === 201 && r.headers.get('idempotent-replayed') === 'true',
      );
      const conflicts = responses.filter((r) => r.status === 409);
      expect(created).toHaveLength(1);
      expect(replayed.length + conflicts.length).toBe(99);
      const original = await created[0]!.text();
      for (const r of replayed) expect(await r.text()).toBe(original);
      for (const r of conflicts) {
        expect(r.headers.get('retry-after')).toBe('1');
        expect(((await r.json()) as { code: string }).code).toBe('GATEWAY_ERR_IDEMPOTENCY_IN_PROGRESS');
      }
    });

    it('a retry replays status, headers and body byte for byte, marked Idempotent-Replayed', async () => {
      const first = await post(`${gw.url}/test/payments`, { amount: 7 }, 'pay-replay');
      const firstBody = await first.text();
      const second = await post(`${gw.url}/test/payments`, { amount: 7 }, 'pay-replay');
      expect(second.status).toBe(201);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(second.headers.get('location')).toBe(first.headers.get('location'));
      expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(await second.text()).toBe(firstBody);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
    });

    it('the same key with a different body → 422, and nothing is executed', async () => {
      await post(`${gw.url}/test/payments`, { amount: 1 }, 'pay-422');
      const before = await count();
      const changed = await post(`${gw.url}/test/payments`, { amount: 2 }, 'pay-422');
      expect(changed.status).toBe(422);
      expect(((await changed.json()) as { code: string }).code).toBe('GATEWAY_ERR_IDEMPOTENCY_KEY_REUSED');
      expect(await count()).toBe(before);
    });

    it('a malformed key → 400 GATEWAY_ERR_IDEMPOTENCY_KEY_INVALID', async () => {
      for (const key of ['"unterminated', '"bad\\q"', 'has space', `"${'x'.repeat(300)}"`]) {
        const response = await post(`${gw.url}/test/payments`, { amount: 1 }, key);
        expect(response.status, key).toBe(400);
        expect(((await response.json()) as { code: string }).code).toBe(
          'GATEWAY_ERR_IDEMPOTENCY_KEY_INVALID',
        );
      }
    });

    it('stores a non-transactional response after the fact; a 5xx releases the key for a retry', async () => {
      const first = await post(`${gw.url}/test/notify`, {}, 'notify-1');
      const again = await post(`${gw.url}/test/notify`, {}, 'notify-1');
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.text()).toBe(await first.text());

      const failed = await post(`${gw.url}/test/notify`, { fail: true }, 'notify-2');
      expect(failed.status).toBe(500);
      const retried = await post(`${gw.url}/test/notify`, { fail: true }, 'notify-2');
      expect(retried.status).toBe(500);
      expect(retried.headers.get('idempotent-replayed')).toBeNull(); // executed again, not replayed
    });

    it('replays the stored response after a restart', async () => {
      const first = await post(`${gw.url}/test/payments`, { amount: 99 }, 'pay-restart');
      const body = await first.text();
      await gw.close();
      gw = await startTestPlatform({ db: { url: dbUrl, poolMax: 20 } }, registerPaymentRoutes);
      const replay = await post(`${gw.url}/test/payments`, { amount: 99 }, 'pay-restart');
      expect(replay.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBe(body);
    });

    it('kill -9 during a burst: every key ends with exactly one payment, and every replay names a real one', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'gw-kill-'));
      const configPath = join(dataDir, 'config.json');
      const killUrl = target.name === 'sqlite' ? `sqlite://${join(dataDir, 'gw.db')}` : await target.url();
      writeFileSync(
        configPath,
        JSON.stringify({
          dataDir,
          log: { level: 'warn' },
          server: { port: 0 },
          db: { url: killUrl },
          gateway: { idempotency: { leaseMs: 400 } },
        }),
      );
      const fixture = fileURLToPath(new URL('../fixtures/payments-server.ts', import.meta.url));
      const start = async () => {
        const run = spawnTs(fixture, [configPath], { GROUNDWORK_LOG_LEVEL: 'info' });
        return { run, url: await waitForStarted(run) };
      };

      const first = await start();
      const keys = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
      const acknowledged = new Map<string, string>();
      const inFlight = keys.map((key, i) =>
        post(`${first.url}/test/payments`, { amount: i }, key, { 'x-test-hang-ms': String((i * 37) % 400) })
          .then(async (r) => {
            if (r.status === 201) acknowledged.set(key, ((await r.json()) as { id: string }).id);
          })
          .catch(() => undefined),
      );
      await waitFor(() => acknowledged.size >= 5, {
        timeoutMs: 10_000,
        intervalMs: 5,
        what: 'some payments to be acknowledged',
      });
      first.run.child.kill('SIGKILL');
      await Promise.all(inFlight);
      await first.run.exited;
      expect(acknowledged.size).toBeLessThan(keys.length); // the kill really interrupted the burst

      const second = await start();
      try {
        const finalIds = new Map<string, string>();
        for (const [i, key] of keys.entries()) {
          await waitFor(
            async () => {
              const r = await post(`${second.url}/test/payments`, { amount: i }, key);
              if (r.status === 409) return false; // a crashed holder's lease has not run out yet
              expect(r.status).toBe(201);
              finalIds.set(key, ((await r.json()) as { id: string }).id);
              return true;
            },
            { timeoutMs: 5_000, intervalMs: 50, what: `key ${key} to settle` },
          );
        }
        // Acknowledged before the crash → the retry replays the same payment.
        for (const [key, id] of acknowledged) expect(finalIds.get(key)).toBe(id);
        const check = await startTestPlatform({ db: { url: killUrl } });
        try {
          const rows = await check.platform.database.kysely.selectFrom('payments').select('id').execute();
          // Exactly one payment per key, and each key's answer names a payment that exists.
          expect(rows).toHaveLength(keys.length);
          expect(new Set(rows.map((r) => r.id))).toEqual(new Set(finalIds.values()));
        } finally {
          await check.close();
        }
      } finally {
        second.run.child.kill('SIGTERM');
        await second.run.exited;
      }
    });
  });
}
