import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { sharedPostgres } from '../harness/shared-engines.js';
import { startTestPlatform, type TestPlatform } from './platform.js';

/** The dialects every data-API suite runs on: the same tests, SQLite and a real PostgreSQL. */
export function dataTargets() {
  const postgres = sharedPostgres();
  return [
    {
      name: 'sqlite',
      available: true,
      url: async () => `sqlite://${join(mkdtempSync(join(tmpdir(), 'gw-data-')), 'gw.db')}`,
    },
    { name: 'postgres', available: postgres.available, url: () => postgres.createDatabase('data') },
  ] as const;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected freely
  body: any;
}

export interface DataClient {
  gw: TestPlatform;
  adminKey: string;
  /** Sends a JSON request; `auth: false` sends no Authorization header. */
  api(
    method: string,
    path: string,
    body?: unknown,
    options?: { headers?: Record<string, string>; auth?: boolean },
  ): Promise<ApiResponse>;
  close(): Promise<void>;
}

export async function startDataPlatform(
  dbUrl: string,
  overrides: Record<string, unknown> = {},
): Promise<DataClient> {
  const gw = await startTestPlatform({
    db: { url: dbUrl, poolMax: 20 },
    log: { level: 'warn' },
    ...overrides,
  });
  const { key } = await new ApiKeys(gw.platform.database).create({ name: 'test', role: 'admin' });
  return {
    gw,
    adminKey: key,
    async api(method, path, body, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.auth !== false) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${gw.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = text;
      }
      return { status: response.status, headers: response.headers, body: parsed };
    },
    close: () => gw.close(),
  };
}
