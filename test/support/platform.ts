import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { Platform } from '../../src/server/platform.js';

export interface TestPlatform {
  platform: Platform;
  url: string;
  /** Parsed JSON log lines written so far. */
  logs: () => Array<Record<string, unknown>>;
  close: () => Promise<void>;
}

/**
 * Builds a platform in-process on a free port with an SQLite database in a temp dir (or the
 * given db.url). `overrides` uses the config file's shape. `beforeStart` registers test routes.
 */
export async function startTestPlatform(
  overrides: Record<string, unknown> = {},
  beforeStart?: (platform: Platform) => void,
): Promise<TestPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  const config = resolveConfig({
    file: {
      path: 'test overrides',
      values: { dataDir, ...overrides, server: { port: 0, ...(overrides.server as object) } },
    },
  });
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  const platform = await Platform.create(config, { logger, processMetrics: false });
  beforeStart?.(platform);
  await platform.start();
  return {
    platform,
    url: platform.url,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    close: () => platform.close(),
  };
}
