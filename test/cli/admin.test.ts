import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/auth/passwords.js';
import { startTestPlatform } from '../support/platform.js';
import { runCli } from '../support/process.js';

describe('admin bootstrap and keys', () => {
  it('creates the first admin from configuration once, and never logs the password', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-admin-'));
    const url = `sqlite://${join(dataDir, 'gw.db')}`;
    const password = 'correct horse battery staple';
    const first = await startTestPlatform({
      dataDir,
      db: { url },
      admin: { email: 'root@example.com', password },
    });
    const rows = await first.platform.database.kysely.selectFrom('_gw_admins').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.email).toBe('root@example.com');
    expect(await verifyPassword(password, String(rows[0]?.password_hash))).toBe(true);
    expect(await verifyPassword('wrong password!', String(rows[0]?.password_hash))).toBe(false);
    expect(JSON.stringify(first.logs())).not.toContain(password);
    await first.close();
    const second = await startTestPlatform({
      dataDir,
      db: { url },
      admin: { email: 'other@example.com', password: 'another password' },
    });
    const again = await second.platform.database.kysely.selectFrom('_gw_admins').selectAll().execute();
    expect(again).toEqual(rows);
    await second.close();
  });

  it('config print redacts the admin password; admin key create needs --name', async () => {
    const printed = await runCli(['config', 'print'], { GROUNDWORK_ADMIN_PASSWORD: 'supersecret-123' });
    expect(printed.code).toBe(0);
    expect(printed.stdout).not.toContain('supersecret-123');
    expect(JSON.parse(printed.stdout).admin.password).toBe('REDACTED');
    const missing = await runCli(['admin', 'key', 'create']);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toBe('');
  });

  it('an admin key can create, list and revoke keys over HTTP; a revoked key stops working', async () => {
    const gw = await startTestPlatform({ log: { level: 'warn' } });
    const dataDir = gw.platform.config.dataDir;
    const made = await runCli([
      'admin',
      'key',
      'create',
      '--name',
      'ops',
      '--data-dir',
      dataDir,
      '--db-url',
      gw.platform.config.db.url,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const key = made.stdout.trim();
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const created = await fetch(`${gw.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: auth,
      body: '{"name":"ci"}',
    });
    expect(created.status).toBe(201);
    const second = (await created.json()) as { id: string; key: string };
    const list = (await (await fetch(`${gw.url}/api/v1/admin/keys`, { headers: auth })).json()) as {
      items: object[];
    };
    expect(list.items).toHaveLength(2);
    expect(JSON.stringify(list)).not.toContain(second.key);
    expect(
      (
        await fetch(`${gw.url}/api/v1/admin/keys/${second.id}`, {
          method: 'DELETE',
          headers: { authorization: auth.authorization },
        })
      ).status,
    ).toBe(204);
    const revoked = await fetch(`${gw.url}/api/v1/admin/keys`, {
      headers: { authorization: `Bearer ${second.key}` },
    });
    expect(revoked.status).toBe(401);
    await gw.close();
  });
});
