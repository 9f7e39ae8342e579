import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { resolveConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { Platform, type PlatformOptions } from '../../src/server/platform.js';
import type { ApiResponse } from '../support/data-api.js';

/**
 * A Groundwork node for the caching suites: a platform in this process on a free port, with the
 * platform options the shared test helper does not pass (a wrapped bus driver), and a small JSON
 * client that injects requests into its HTTP app. Several nodes may share one database, Redis and
 * bus.
 */
export interface Node {
  platform: Platform;
  url: string;
  api(
    method: string,
    path: string,
    body?: unknown,
    options?: { headers?: Record<string, string>; key?: string | false },
  ): Promise<ApiResponse>;
  close(): Promise<void>;
}

export async function startNode(
  overrides: Record<string, unknown>,
  options: Pick<PlatformOptions, 'busDriver'> & { adminKey?: string } = {},
): Promise<Node & { adminKey: string }> {
  const config = resolveConfig({
    file: {
      path: 'test overrides',
      values: {
        dataDir: mkdtempSync(join(tmpdir(), 'gw-cache-')),
        log: { level: 'warn' },
        ...overrides,
        server: { port: 0 },
      },
    },
  });
  const logger = createLogger('warn', { write: () => undefined });
  const platform = await Platform.create(config, { logger, processMetrics: false, ...options });
  await platform.start();
  const adminKey =
    options.adminKey ?? (await new ApiKeys(platform.database).create({ name: 'test', role: 'admin' })).key;
  const url = platform.url;
  return {
    platform,
    url,
    adminKey,
    async api(method, path, body, requestOptions = {}) {
      const headers: Record<string, string> = { ...requestOptions.headers };
      const key = requestOptions.key === undefined ? adminKey : requestOptions.key;
      if (key !== false) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      // In process (fastify.inject): the whole pipeline without sockets, so a suite of tens of
      // thousands of requests spends its time in Groundwork, not in HTTP client code.
      const response = await platform.app.inject({
        method: method as 'GET',
        url: path,
        headers,
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      });
      const text = response.body;
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = text;
      }
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined)
          responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : String(value));
      }
      return { status: response.statusCode, headers: responseHeaders, body: parsed };
    },
    close: () => platform.close(),
  };
}

/** A small seeded PRNG (mulberry32): a failing run can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
