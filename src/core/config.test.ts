import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config-loader.js';
import { redactConfig, resolveConfig } from './config.js';
import { GroundworkError } from './errors.js';

function errorOf(fn: () => unknown): GroundworkError {
  try {
    fn();
  } catch (error) {
    if (error instanceof GroundworkError) return error;
    throw error;
  }
  throw new Error('expected a GroundworkError');
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = resolveConfig({});
    expect(config.server.port).toBe(8080);
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.dataDir).toBe('./data');
    expect(config.db.url).toBe('sqlite://./data/groundwork.db');
  });

  it('layers defaults < file < environment < flags, key by key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    writeFileSync(
      join(dir, 'groundwork.config.yaml'),
      'server:\n  port: 7000\n  host: 0.0.0.0\nlog:\n  level: debug\ndataDir: /srv/gw\n',
    );
    const fileOnly = loadConfig({ cwd: dir, env: {} });
    expect(fileOnly.server.port).toBe(7000);
    expect(fileOnly.db.url).toBe('sqlite:///srv/gw/groundwork.db');

    const withEnv = loadConfig({ cwd: dir, env: { GROUNDWORK_PORT: '7100', GROUNDWORK_LOG_LEVEL: 'warn' } });
    expect(withEnv.server.port).toBe(7100);
    expect(withEnv.log.level).toBe('warn');
    expect(withEnv.server.host).toBe('0.0.0.0'); // untouched by env: the file's value stands

    const withFlags = loadConfig({ cwd: dir, env: { GROUNDWORK_PORT: '7100' }, flags: { port: '7200' } });
    expect(withFlags.server.port).toBe(7200);
    expect(withFlags.log.level).toBe('debug');
  });

  it('reads an explicit JSON file given with --config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    writeFileSync(join(dir, 'custom.json'), JSON.stringify({ server: { port: 9001 } }));
    expect(loadConfig({ cwd: dir, configPath: 'custom.json', env: {} }).server.port).toBe(9001);
  });

  it('names the key, the value, the source and what is allowed when a value is invalid', () => {
    const error = errorOf(() => resolveConfig({ env: { GROUNDWORK_PORT: '99999' } }));
    expect(error.code).toBe('CONFIG_ERR_INVALID');
    expect(error.detail).toContain('server.port');
    expect(error.detail).toContain('"99999"');
    expect(error.detail).toContain('GROUNDWORK_PORT');
    expect(error.detail).toMatch(/65535/);

    const level = errorOf(() => resolveConfig({ flags: { 'log-level': 'loud' } }));
    expect(level.detail).toContain('log.level');
    expect(level.detail).toContain('--log-level');
    expect(level.detail).toMatch(/info/);
  });

  it('rejects unknown keys in the file (typos do not pass silently)', () => {
    const error = errorOf(() => resolveConfig({ file: { path: 'x.json', values: { server: { prot: 1 } } } }));
    expect(error.detail).toContain('prot');
    expect(error.detail).toContain('x.json');
  });

  it('reports an unparsable file with CONFIG_ERR_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    writeFileSync(join(dir, 'groundwork.config.json'), '{ not json');
    expect(errorOf(() => loadConfig({ cwd: dir, env: {} })).code).toBe('CONFIG_ERR_FILE');
  });

  it('requires TLS cert and key together', () => {
    expect(errorOf(() => resolveConfig({ env: { GROUNDWORK_TLS_CERT: '/x.pem' } })).detail).toContain(
      'keyFile',
    );
  });

  it('redacts the password of the database URL and nothing else', () => {
    const config = resolveConfig({
      env: { GROUNDWORK_DB_URL: 'postgres://app:s3cret@db.internal:5432/main' },
    });
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.toContain('s3cret');
    expect(printed).toContain('postgres://app:REDACTED@db.internal:5432/main');
    expect(config.db.url).toContain('s3cret'); // the original is untouched
  });

  it('never echoes a secret option in an error or a printed config', () => {
    const invalid = errorOf(() =>
      resolveConfig({ env: { GROUNDWORK_AUTH_KEY_ENCRYPTION_KEY: 'wrong-but-secret-value' } }),
    );
    expect(invalid.detail).toContain('auth.keyEncryptionKey = "REDACTED"');
    expect(invalid.detail).not.toContain('wrong-but-secret-value');
    const badUrl = errorOf(() =>
      resolveConfig({ env: { GROUNDWORK_SMTP_URL: 'http://mailer:pa55@mail.test' } }),
    );
    expect(badUrl.detail).toContain('http://mailer:REDACTED@mail.test');
    expect(badUrl.detail).not.toContain('pa55');

    const key = Buffer.alloc(32, 7).toString('base64');
    const config = resolveConfig({
      env: { GROUNDWORK_AUTH_KEY_ENCRYPTION_KEY: key, GROUNDWORK_ADMIN_PASSWORD: 'pass:word-12345' },
    });
    expect(config.auth.keyEncryptionKey).toBe(key);
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.toContain(key);
    expect(printed).not.toContain('pass:word-12345');
  });
});
