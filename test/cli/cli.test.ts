import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderConfigTable } from '../../src/core/config-docs.js';
import { runCli, startCli, waitForStarted } from '../support/process.js';

describe('groundwork CLI', () => {
  it('config print shows the effective config with flags over env over file, secrets redacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
    writeFileSync(
      join(dir, 'groundwork.config.json'),
      JSON.stringify({ server: { port: 7000, host: '0.0.0.0' } }),
    );
    const result = await runCli(
      ['config', 'print', '--port', '7300'],
      {
        GROUNDWORK_PORT: '7200',
        GROUNDWORK_DB_URL: 'postgres://app:hunter2@127.0.0.1:5432/app',
      },
      dir,
    );
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as {
      server: { port: number; host: string };
      db: { url: string };
    };
    expect(printed.server.port).toBe(7300);
    expect(printed.server.host).toBe('0.0.0.0');
    expect(printed.db.url).toBe('postgres://app:REDACTED@127.0.0.1:5432/app');
    expect(result.stdout + result.stderr).not.toContain('hunter2');
  });

  it('an invalid value stops start-up with exit 1 and a message naming key, value and rule', async () => {
    const result = await runCli(['start'], { GROUNDWORK_PORT: 'eighty' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('CONFIG_ERR_INVALID');
    expect(result.stderr).toContain('server.port = "eighty" (from GROUNDWORK_PORT)');
    expect(result.stderr).toMatch(/expected number/);
  });

  it('unknown commands and flags are usage errors (exit 2)', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const badFlag = await runCli(['start', '--no-such-flag']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('Usage: groundwork');
  });

  it('migrate applies pending migrations once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
    const first = await runCli(['migrate', '--data-dir', dataDir]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^applied: 0001_meta/);
    const second = await runCli(['migrate', '--data-dir', dataDir]);
    expect(second.stdout.trim()).toBe('no pending migrations');
  });

  it('start serves /healthz and /readyz on embedded SQLite created under the data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
    const run = startCli(['start', '--port', '0', '--data-dir', dataDir]);
    try {
      const url = await waitForStarted(run);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const { existsSync } = await import('node:fs');
      expect(existsSync(join(dataDir, 'groundwork.db'))).toBe(true);
    } finally {
      run.child.kill('SIGTERM');
      expect((await run.exited).code).toBe(0);
    }
  });
});

describe('README', () => {
  it('configuration table matches the schema (regenerate with `npm run docs:config`)', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
    expect(section?.[1]).toBe(renderConfigTable());
  });

  it('documents the two commands', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
  });
});
