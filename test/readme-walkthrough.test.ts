import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, type Spawned, startCli, waitForStarted } from './support/process.js';

/**
 * The README's data-API walkthrough, run as written (bash, curl, jq, `node bin/groundwork.js`)
 * against a fresh server, and its output compared with the output the README shows.
 */
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const script = /<!-- walkthrough:start -->\n```bash\n([\s\S]*?)```\n<!-- walkthrough:end -->/.exec(
  readme,
)?.[1];
const printed = /It prints:\n\n```text\n([\s\S]*?)```/.exec(readme)?.[1];
const tools = ['curl', 'jq'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
const required = process.env.GROUNDWORK_REQUIRE_ENGINES === '1';

describe.skipIf(!tools && !required)('README walkthrough', () => {
  let server: Spawned | undefined;
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('runs as written and prints what the README says', async () => {
    expect(tools, 'curl and jq are needed (apt-get install curl jq)').toBe(true);
    expect(script).toBeTruthy();
    expect(printed).toBeTruthy();
    // `node bin/groundwork.js` runs the build, as after `npm start`.
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
      },
    );
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-readme-'));
    server = startCli(['start', '--port', '0', '--data-dir', dataDir]);
    const url = await waitForStarted(server);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GROUNDWORK_')));
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', script ?? ''], {
      cwd: ROOT,
      env: { ...env, GW: url, GROUNDWORK_DATA_DIR: dataDir },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(printed);
  }, 90_000);
});
