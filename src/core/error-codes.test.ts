import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './error-codes.js';
import { GroundworkError, problemType, toProblem } from './errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map(
  [...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const),
);

describe('error registry', () => {
  it('docs/errors.md lists exactly the registered codes, with the same statuses', () => {
    const registered = new Map(
      Object.entries(errorCodes).map(([code, info]) => [code, info.status] as const),
    );
    expect([...documented.keys()].sort()).toEqual([...registered.keys()].sort());
    for (const [code, status] of registered) expect(documented.get(code), code).toBe(status);
  });

  it('every code follows BLOCK_ERR_WHAT and has a 4xx/5xx status', () => {
    for (const [code, info] of Object.entries(errorCodes)) {
      expect(code).toMatch(/^[A-Z]+_ERR_[A-Z0-9_]+$/);
      expect(info.status).toBeGreaterThanOrEqual(400);
      expect(info.status).toBeLessThan(600);
    }
  });

  it('toProblem renders RFC 9457 members and never the internal cause', () => {
    const error = new GroundworkError('DB_ERR_QUERY', {
      cause: new Error('relation "secret_table" does not exist'),
    });
    const problem = toProblem(error, 'req-1');
    expect(problem).toEqual({
      type: problemType('DB_ERR_QUERY'),
      title: 'Database Error',
      status: 500,
      code: 'DB_ERR_QUERY',
      requestId: 'req-1',
    });
    expect(JSON.stringify(problem)).not.toContain('secret_table');
  });
});
