import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type Spawned, startCli, waitForStarted } from './support/process.js';

/**
 * The README's walkthroughs (data API, auth), each run as written (bash, curl, jq,
 * `node bin/groundwork.js`) against a fresh server, and its output compared with the output the
 * README shows right after it ("It prints:").
 */
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const walkthroughs = [
  ...readme.matchAll(
    /<!-- walkthrough(?::([a-z]+))?:start -->\n```bash\n([\s\S]*?)```\n<!-- walkthrough(?::[a-z]+)?:end -->\s*It prints:\n\n```text\n([\s\S]*?)```/g,
  ),
].map((m) => ({ name: m[1] ?? 'data', script: m[2]!, printed: m[3]! }));
const tools = ['curl', 'jq'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
const required = process.env.GROUNDWORK_REQUIRE_ENGINES === '1';

describe.skipIf(!tools && !required)('README walkthroughs', () => {
  let server: Spawned | undefined;
  beforeAll(() => {
    // `node bin/groundwork.js` runs the build, as after `npm start`.
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
      },
    );
  }, 90_000);
  afterEach(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('the README has both walkthroughs, each followed by its output', () => {
    expect(walkthroughs.map((w) => w.name)).toEqual(['data', 'auth']);
  });

  for (const walkthrough of walkthroughs) {
    it(`${walkthrough.name}: runs as written and prints what the README says`, async () => {
      expect(tools, 'curl and jq are needed (apt-get install curl jq)').toBe(true);
      const dataDir = mkdtempSync(join(tmpdir(), 'gw-readme-'));
      server = startCli(['start', '--port', '0', '--data-dir', dataDir]);
      const url = await waitForStarted(server);
      const env = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('GROUNDWORK_')),
      );
      // --norc and stdin from /dev/null: with stdin a socket (how Node passes pipes), bash takes itself
      // for an rshd-started shell and reads /etc/bash.bashrc, which fails under -u on some systems.
      const run = spawnSync('bash', ['--norc', '-euo', 'pipefail', '-c', walkthrough.script], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...env, GW: url, GROUNDWORK_DATA_DIR: dataDir },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toBe(walkthrough.printed);
    }, 90_000);
  }
});
