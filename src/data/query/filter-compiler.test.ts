import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import type { DialectName } from '../../db/database.js';
import { filterTree, literalValue } from './filter-arbitraries.test-support.js';
import type { Operand } from './filter-ast.js';
import { compileFilter } from './filter-compiler.js';
import { parseFilter } from './filter-parser.js';
import { compilerFor, queryContext } from './query-fixtures.test-support.js';

const DIALECTS: readonly DialectName[] = ['sqlite', 'postgres'];

function compile(text: string, dialect: DialectName = 'sqlite', auth: Record<string, unknown> = {}) {
  return compilerFor(dialect)
    .selectFrom('posts')
    .select('id')
    .where(compileFilter(parseFilter(text), queryContext(dialect, auth)))
    .compile();
}

const whereOf = (text: string, dialect: DialectName = 'sqlite', auth: Record<string, unknown> = {}) => {
  const { sql } = compile(text, dialect, auth);
  return sql.slice(sql.indexOf(' where ') + ' where '.length);
};

function compileError(text: string, auth: Record<string, unknown> = {}): GroundworkError {
  const codes = DIALECTS.map((dialect) => {
    try {
      compile(text, dialect, auth);
    } catch (error) {
      expect(error).toBeInstanceOf(GroundworkError);
      return error as GroundworkError;
    }
    throw new Error(`expected ${JSON.stringify(text)} to be rejected on ${dialect}`);
  });
  expect(codes[0]?.code).toBe(codes[1]?.code);
  return codes[0] as GroundworkError;
}

describe('compileFilter: errors', () => {
  it('rejects unknown fields, paths and operators a field does not allow with DATA_ERR_FILTER_FIELD', () => {
    const cases: [string, RegExp][] = [
      ['nope = 1', /Unknown field "nope"/],
      ['title.x = "a"', /has no sub-fields/],
      ['author.nope = 1', /Unknown field "author.nope"/],
      ['author.mentor.name = "a"', /one relation deep/],
      ['views ~ "1"', /applies to text fields/],
      ['published_at !~ "2024"', /applies to text fields/],
      ['tags = "news"', /is a list/],
      ['coauthors > "a"', /is a list/],
      ['tags in ("news")', /is a list/],
      ['meta.flag < true', /Booleans in "meta.flag"/],
      ['title = published_at', /Cannot compare "title" \(text\) with "published_at" \(datetime\)/],
      ['meta.a = title', /can only be compared with values/],
      ['tags = coauthors', /can only be compared with values/],
      ['title ~ contact', /not two fields/],
      ['"x" ~ title', /needs the field on its left/],
      ['views in (1, score)', /hold values, not fields/],
    ];
    for (const [text, message] of cases) {
      const error = compileError(text);
      expect(error.code, text).toBe('DATA_ERR_FILTER_FIELD');
      expect(error.detail, text).toMatch(message);
      expect(error.extensions, text).toEqual({ position: expect.any(Number) });
    }
    expect(() =>
      compileFilter(parseFilter('author.name = "a"'), {
        ...queryContext('sqlite'),
        resolve: () => undefined,
      }),
    ).toThrow(expect.objectContaining({ code: 'DATA_ERR_FILTER_FIELD' }) as unknown as Error);
  });

  it('rejects values that do not fit the field with DATA_ERR_FILTER_VALUE naming the field', () => {
    const cases: [string, RegExp][] = [
      ['title = 1', /Field "title" \(text\) expects a string; got number 1/],
      ['views = 1.5', /Field "views" \(number\) expects an integer/],
      ['views > 9007199254740992', /expects an integer/],
      ['score = "1"', /Field "score" \(number\) expects a number/],
      ['published = "true"', /Field "published" \(boolean\) expects true or false/],
      ['published_at > "yesterday"', /Field "published_at" \(datetime\) expects a date-time/],
      ['published_at > "2024-02-30"', /expects a date-time/],
      ['title = @now', /Field "title" \(text\) expects a string; got @now/],
      ['author = 5', /Field "author" \(relation\)/],
      ['title < null', /null can only be compared with "=" or "!="/],
      ['tags ~ 1', /"tags" expects a string/],
      ['meta.a ~ 5', /"meta.a" expects a string after "~"/],
      ['"a" = 1', /Cannot compare the string "a" with number 1/],
      ['@now > 5', /Cannot compare number 5 with @now/],
      ['1 ~ 2', /compare strings/],
      ['views in (1, "2")', /Field "views" \(number\)/],
    ];
    for (const [text, message] of cases) {
      const error = compileError(text);
      expect(error.code, text).toBe('DATA_ERR_FILTER_VALUE');
      expect(error.detail, text).toMatch(message);
    }
  });
});

describe('compileFilter: SQL shape', () => {
  it('compiles = null / != null to null tests, and != to a null-aware comparison', () => {
    expect(whereOf('title = null')).toBe('"posts"."title" is null');
    expect(whereOf('null != title')).toBe('"posts"."title" is not null');
    expect(whereOf('title != "x"')).toBe('"posts"."title" is not ?');
    expect(whereOf('title != "x"', 'postgres')).toBe('"posts"."title" is distinct from $1');
    expect(whereOf('title = "x"', 'postgres')).toBe('"posts"."title" = $1');
    expect(whereOf('5 < views')).toBe('"posts"."views" > ?');
    expect(whereOf('title !~ "x"')).toBe(`("posts"."title" like ? escape '\\') is not true`);
    expect(whereOf('title ~ "x"', 'postgres')).toBe(`"posts"."title" ilike $1 escape '\\'`);
  });

  it('escapes LIKE wildcards in ~ values and binds the pattern', () => {
    expect(compile(String.raw`title ~ "50%_off\\"`).parameters).toEqual([String.raw`%50\%\_off\\%`]);
  });

  it('binds datetimes in stored form, booleans per dialect, and @now from the context clock', () => {
    expect(compile('published_at >= "2024-01-02T03:04:05+02:00"').parameters).toEqual([
      '2024-01-02T01:04:05.000Z',
    ]);
    expect(compile('published_at < @now').parameters).toEqual(['2025-06-01T12:00:00.000Z']);
    expect(compile('published = true').parameters).toEqual([1]);
    expect(compile('published = true', 'postgres').parameters).toEqual([true]);
  });

  it('gives every relation path its own alias', () => {
    const { sql } = compile(
      'author.name = "a" || author.name = "b" || coauthors.name = "c" || owner.age > 1 || author.meta.x = 1',
    );
    const aliases = sql.match(/"_r\d+"/g) ?? [];
    expect(new Set(aliases).size).toBe(5);
    const { sql: pg } = compile('coauthors.name = "c" && coauthors.name = "d"', 'postgres');
    expect(new Set(pg.match(/"_r\d+"/g))).toEqual(new Set(['"_r1"', '"_r2"']));
  });

  it('folds constant comparisons away', () => {
    expect(whereOf('@auth.role = "admin" || title = "x"', 'sqlite', { role: 'admin' })).toBe('1 = 1');
    expect(whereOf('@auth.role = "admin" || title = "x"', 'sqlite', { role: 'user' })).toBe(
      '"posts"."title" = ?',
    );
    expect(whereOf('1 = 1 && 2 > 3 && title = "x"')).toBe('1 = 0');
    expect(whereOf('"Hello" ~ "ELL" && @now > "2025-01-01" && "b" >= "a"')).toBe('1 = 1');
  });
});

describe('compileFilter: @auth values', () => {
  const anonymous = {};
  const user = { id: 'u1', collection: 'users', verified: true, level: 3 };

  it('binds a present @auth value as a parameter', () => {
    const { sql, parameters } = compile('owner = @auth.id', 'postgres', user);
    expect(sql).toContain('"posts"."owner" = $1');
    expect(parameters).toEqual(['u1']);
  });

  it('makes every comparison with a null or missing @auth value false, negated ones included', () => {
    for (const text of [
      'owner = @auth.id',
      'owner != @auth.id',
      '@auth.id = owner',
      'title ~ @auth.id',
      'title !~ @auth.id',
      'views > @auth.level',
      'owner in (@auth.id, "x")',
      'owner not in (@auth.id)',
      'tags !~ @auth.id',
      'meta.owner != @auth.id',
      'author.name != @auth.id',
      '@auth.id != "x"',
      '@auth.id in ("x")',
      '@auth.id not in ("x")',
      '@auth.id = @auth.other',
      '@auth.id >= @auth.other',
    ]) {
      expect(whereOf(text, 'sqlite', anonymous), text).toBe('1 = 0');
      expect(whereOf(text, 'postgres', { id: null }), text).toBe('1 = 0');
    }
  });

  it('lets explicit null tests see a null @auth value', () => {
    expect(whereOf('@auth.id = null', 'sqlite', anonymous)).toBe('1 = 1');
    expect(whereOf('@auth.id is null', 'sqlite', anonymous)).toBe('1 = 1');
    expect(whereOf('@auth.id != null', 'sqlite', anonymous)).toBe('1 = 0');
    expect(whereOf('@auth.id is not null', 'sqlite', user)).toBe('1 = 1');
    expect(whereOf('@auth.id = null || owner = @auth.id', 'sqlite', user)).toBe('"posts"."owner" = ?');
  });

  it('treats @auth values of a kind the field does not hold as false, never as an error', () => {
    for (const auth of [
      { id: 42 },
      { id: { nested: 1 } },
      { id: ['a'] },
      { id: 10n },
      { id: 'a\0b' },
      { id: Number.NaN },
    ]) {
      expect(whereOf('owner = @auth.id', 'sqlite', auth)).toBe('1 = 0');
      expect(whereOf('owner != @auth.id', 'postgres', auth)).toBe('1 = 0');
    }
    expect(whereOf('views = @auth.level', 'sqlite', { level: 1.5 })).toBe('1 = 0');
    expect(whereOf('published_at < @auth.t', 'sqlite', { t: 'soon' })).toBe('1 = 0');
    expect(compile('published_at < @auth.t', 'sqlite', { t: new Date(0) }).parameters).toEqual([
      '1970-01-01T00:00:00.000Z',
    ]);
  });

  it('reads only own properties of the auth map', () => {
    expect(whereOf('@auth.constructor = null', 'sqlite', anonymous)).toBe('1 = 1');
    expect(whereOf('@auth.toString is null && @auth.__proto__ is null', 'sqlite', anonymous)).toBe('1 = 1');
  });
});

describe('compileFilter: properties', () => {
  const paths = [
    ['title'],
    ['views'],
    ['score'],
    ['published'],
    ['published_at'],
    ['meta'],
    ['meta', 'a', 'b'],
    ['meta', '0'],
    ['tags'],
    ['author'],
    ['author', 'name'],
    ['author', 'meta', 'x'],
    ['author', 'roles'],
    ['coauthors', 'age'],
    ['coauthors'],
    ['owner', 'born'],
    ['id'],
    ['created'],
    ['nope'],
    ['title', 'x'],
    ['author', 'mentor', 'name'],
  ];
  const fieldOperand: fc.Arbitrary<Operand> = fc
    .constantFrom(...paths)
    .map((path) => ({ kind: 'field', path }));
  const valueOperand: fc.Arbitrary<Operand> = fc.oneof(
    literalValue.map((value) => ({ kind: 'literal' as const, value })),
    fc
      .constantFrom('2024-05-01', '2024-05-01T10:00:00Z', '', '%', '_')
      .map((value) => ({ kind: 'literal' as const, value })),
    fc.constantFrom('id', 'missing', 'level').map((name) => ({ kind: 'auth' as const, name })),
    fc.constant({ kind: 'now' as const }),
  );
  const anyOperand = fc.oneof(fieldOperand, valueOperand);

  it('compiles any tree over real paths or rejects it with a filter code, on both dialects', () => {
    fc.assert(
      fc.property(filterTree(anyOperand, valueOperand), fc.constantFrom(...DIALECTS), (tree, dialect) => {
        try {
          compilerFor(dialect)
            .selectFrom('posts')
            .select('id')
            .where(compileFilter(tree, queryContext(dialect, { id: 'u1', level: 2 })))
            .compile();
        } catch (error) {
          if (!(error instanceof GroundworkError)) throw error;
          expect(['DATA_ERR_FILTER_FIELD', 'DATA_ERR_FILTER_VALUE']).toContain(error.code);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('never puts a string value into the SQL text: the text does not depend on the value', () => {
    const templates = [
      (v: string) => `title = ${v}`,
      (v: string) => `title != ${v}`,
      (v: string) => `title ~ ${v}`,
      (v: string) => `contact !~ ${v}`,
      (v: string) => `meta.a.b = ${v}`,
      (v: string) => `meta.a < ${v}`,
      (v: string) => `meta ~ ${v}`,
      (v: string) => `tags ~ ${v}`,
      (v: string) => `coauthors !~ ${v}`,
      (v: string) => `author.name ~ ${v}`,
      (v: string) => `coauthors.meta.k != ${v}`,
      (v: string) => `title in (${v}, "z", ${v})`,
      (v: string) => `author not in (${v})`,
    ];
    const quoted = (s: string) => JSON.stringify(s);
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0')),
        fc.constantFrom(...templates),
        fc.constantFrom(...DIALECTS),
        (value, template, dialect) => {
          const probe = compile(template(quoted(value)), dialect);
          const reference = compile(template(quoted('reference')), dialect);
          expect(probe.sql).toBe(reference.sql);
          const bound = probe.parameters.map(String).join('\u0001');
          expect(bound.includes(value) || bound.includes(value.replace(/[\\%_]/g, (c) => `\\${c}`))).toBe(
            true,
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps hostile values out of the SQL text', () => {
    const hostile = `'; DROP TABLE posts; -- " OR 1=1 /* */`;
    for (const dialect of DIALECTS) {
      const { sql, parameters } = compile(
        `title = ${JSON.stringify(hostile)} || meta.x ~ ${JSON.stringify(hostile)} || author.name != ${JSON.stringify(hostile)}`,
        dialect,
        { id: hostile },
      );
      expect(sql).not.toMatch(/DROP|OR 1=1|\/\*/);
      expect(parameters).toContain(hostile);
    }
  });
});
