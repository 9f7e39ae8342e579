import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { CURSOR_MAX_LENGTH, decodeCursor, encodeCursor, keysetCondition } from './cursor.js';
import { compilerFor, postsDef } from './query-fixtures.test-support.js';
import { parseSort } from './sort.js';

const sort = parseSort('-views,title,published_at,published,score', postsDef);
const values = [3, 'x', '2024-01-01T00:00:00.000Z', true, 1.5, '0190a1b2-0000-7000-8000-000000000001'];

function cursorError(token: string, spec = sort): GroundworkError {
  try {
    decodeCursor(token, spec);
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    return error as GroundworkError;
  }
  throw new Error(`expected ${JSON.stringify(token.slice(0, 40))} to be rejected`);
}

const token = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');

describe('cursors', () => {
  it('round-trips the sort-key values, nulls included, as an opaque base64url token', () => {
    const encoded = encodeCursor(sort, values);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(encoded, sort)).toEqual(values);
    const withNulls = [null, null, null, null, null, 'id-1'];
    expect(decodeCursor(encodeCursor(sort, withNulls), sort)).toEqual(withNulls);
  });

  it('rejects a cursor made for another sort', () => {
    const other = parseSort('views,title,published_at,published,score', postsDef);
    expect(cursorError(encodeCursor(sort, values), other).detail).toMatch(/different sort/);
  });

  it('rejects malformed tokens with DATA_ERR_CURSOR_INVALID', () => {
    const good = JSON.parse(Buffer.from(encodeCursor(sort, values), 'base64url').toString()) as { s: string };
    const bad = [
      '',
      'not base64!',
      'x'.repeat(CURSOR_MAX_LENGTH + 1),
      Buffer.from('{not json').toString('base64url'),
      token(null),
      token([1, 2]),
      token({ s: good.s }),
      token({ s: good.s, v: values.slice(1) }),
      token({ s: good.s, v: [...values, 1] }),
      token({ s: good.s, v: ['3', ...values.slice(1)] }), // integer key given a string
      token({ s: good.s, v: [1.5, ...values.slice(1)] }), // integer key given a fraction
      token({ s: good.s, v: [2 ** 60, ...values.slice(1)] }),
      token({ s: good.s, v: [3, 7, ...values.slice(2)] }), // text key given a number
      token({ s: good.s, v: [3, 'x', '2024-01-01', ...values.slice(3)] }), // not the stored datetime form
      token({ s: good.s, v: [3, 'x', values[2], 1, ...values.slice(4)] }), // boolean key given 1
      token({ s: good.s, v: [...values.slice(0, 5), null] }), // id is never null
      token({ s: good.s, v: [3, 'a\u0000', ...values.slice(2)] }),
    ];
    for (const t of bad) {
      const error = cursorError(t);
      expect(error.code).toBe('DATA_ERR_CURSOR_INVALID');
      expect(error.status).toBe(400);
    }
    // 1e400 in JSON parses to Infinity: not a finite float.
    const raw = `{"s":${JSON.stringify(good.s)},"v":[3,"x","2024-01-01T00:00:00.000Z",true,1e400,"i"]}`;
    expect(cursorError(Buffer.from(raw).toString('base64url')).code).toBe('DATA_ERR_CURSOR_INVALID');
  });

  it('decodes or rejects any token, never throwing anything else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue().map(token)), (t) => {
        try {
          decodeCursor(t, sort);
        } catch (error) {
          if (!(error instanceof GroundworkError)) throw error;
          expect(error.code).toBe('DATA_ERR_CURSOR_INVALID');
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('keysetCondition', () => {
  it('expands per key with the null cases and binds every value', () => {
    const spec = parseSort('-views,title', postsDef);
    const where = (vals: unknown[]) => {
      const query = compilerFor('postgres')
        .selectFrom('posts')
        .select('id')
        .where(keysetCondition(spec, vals as never, { dialect: 'postgres', collection: postsDef }))
        .compile();
      return { sql: query.sql.slice(query.sql.indexOf(' where ') + 7), parameters: query.parameters };
    };
    expect(where([5, 'b', 'i']).sql).toBe(
      '("posts"."views" < $1 or ("posts"."views" = $2 and (("posts"."title" > $3 or "posts"."title" is null) or ("posts"."title" = $4 and "posts"."id" > $5))))',
    );
    expect(where([5, 'b', 'i']).parameters).toEqual([5, 5, 'b', 'b', 'i']);
    // views null (first in descending order): only rows with a views value, or ties on null.
    expect(where([null, null, 'i']).sql).toBe(
      '("posts"."views" is not null or ("posts"."views" is null and ("posts"."title" is null and "posts"."id" > $1)))',
    );
  });
});
