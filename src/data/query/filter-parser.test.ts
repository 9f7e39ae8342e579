import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import type { FilterNode, Operand } from './filter-ast.js';
import { printFilter } from './filter-ast.js';
import {
  FILTER_MAX_COMPARISONS,
  FILTER_MAX_DEPTH,
  FILTER_MAX_IN_ITEMS,
  FILTER_MAX_LENGTH,
  parseFilter,
} from './filter-parser.js';

const f = (...path: string[]): Operand => ({ kind: 'field', path });
const lit = (value: string | number | boolean | null): Operand => ({ kind: 'literal', value });

/** The error a parse throws; fails the test when it does not throw a GroundworkError. */
function parseError(text: string): GroundworkError {
  try {
    parseFilter(text);
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    return error as GroundworkError;
  }
  throw new Error(`expected ${JSON.stringify(text.slice(0, 60))} to be rejected`);
}

describe('parseFilter', () => {
  it('parses a comparison with its position', () => {
    expect(parseFilter('  title = "x"')).toEqual({
      kind: 'compare',
      op: '=',
      left: f('title'),
      right: lit('x'),
      at: 3,
    });
  });

  it.each(['=', '!=', '>', '>=', '<', '<=', '~', '!~'] as const)('parses the operator %s', (op) => {
    const node = parseFilter(`a ${op} 1`);
    expect(node).toMatchObject({ kind: 'compare', op, left: f('a'), right: lit(1) });
    // Without spaces too.
    expect(parseFilter(`a${op}1`)).toMatchObject({ kind: 'compare', op });
  });

  it('binds && tighter than ||, left to right, and groups with parentheses', () => {
    expect(printFilter(parseFilter('a=1 || b=2 && c=3'))).toBe('a = 1 || (b = 2 && c = 3)');
    expect(printFilter(parseFilter('a=1 && b=2 || c=3'))).toBe('(a = 1 && b = 2) || c = 3');
    expect(printFilter(parseFilter('a=1 && (b=2 || c=3)'))).toBe('a = 1 && (b = 2 || c = 3)');
    const chain = parseFilter('a=1 && b=2 && c=3') as Extract<FilterNode, { kind: 'and' }>;
    expect(chain.kind).toBe('and');
    expect(chain.children).toHaveLength(3);
    expect(parseFilter('((a = 1))')).toMatchObject({ kind: 'compare', at: 3 });
  });

  it('parses in, not in, is null and is not null', () => {
    expect(parseFilter('status in ("a", \'b\', null)')).toMatchObject({
      kind: 'in',
      negated: false,
      operand: f('status'),
      values: [lit('a'), lit('b'), lit(null)],
    });
    expect(parseFilter('n not in (1,2)')).toMatchObject({
      kind: 'in',
      negated: true,
      values: [lit(1), lit(2)],
    });
    expect(parseFilter('x is null')).toMatchObject({ kind: 'null', negated: false, operand: f('x') });
    expect(parseFilter('x is not null')).toMatchObject({ kind: 'null', negated: true, operand: f('x') });
  });

  it('parses paths, @auth and @now on either side', () => {
    expect(parseFilter('@auth.id = owner')).toMatchObject({
      left: { kind: 'auth', name: 'id' },
      right: f('owner'),
    });
    expect(parseFilter('meta.a.0.b_c >= @now')).toMatchObject({
      left: f('meta', 'a', '0', 'b_c'),
      right: { kind: 'now' },
    });
    expect(parseFilter('author.name ~ @auth.collection')).toMatchObject({ left: f('author', 'name') });
  });

  it('parses literals: numbers, booleans, null and escaped strings', () => {
    const value = (text: string) => (parseFilter(`a = ${text}`) as { right: Operand }).right;
    expect(value('-12')).toEqual(lit(-12));
    expect(value('+1.5e3')).toEqual(lit(1500));
    expect(value('.5')).toEqual(lit(0.5));
    expect(value('2E-2')).toEqual(lit(0.02));
    expect(value('true')).toEqual(lit(true));
    expect(value('false')).toEqual(lit(false));
    expect(value('null')).toEqual(lit(null));
    expect(value(String.raw`"q\"s\'b\\n\n\t\r\/\b\f\u00e9\uD83D\uDE00"`)).toEqual(
      lit('q"s\'b\\n\n\t\r/\b\fé😀'),
    );
    expect(value(String.raw`'it\'s'`)).toEqual(lit("it's"));
    expect(value('"a\nb"')).toEqual(lit('a\nb')); // a raw newline inside a string is kept
  });

  it('reports syntax errors with the column and what was expected', () => {
    const cases: [string, number, RegExp][] = [
      ['a =', 4, /Expected a field name or a value but found the end/],
      ['a = 1 &&', 9, /Expected a field name or a value/],
      ['a 1', 3, /Expected an operator/],
      ['(a = 1', 7, /Expected "\)"/],
      ['a = 1)', 6, /Unmatched "\)"/],
      ['a = 1 b = 2', 7, /Expected "&&", "\|\|"/],
      ['a = "abc', 5, /Unterminated string/],
      [String.raw`a = "\q"`, 6, /Unknown escape/],
      [String.raw`a = "\u12"`, 6, /four hex digits/],
      ['a == 1', 4, /Expected a field name or a value/],
      ['a & b', 3, /Unexpected character "&"/],
      ['a = 1 | b = 2', 7, /Unexpected character "\|"/],
      ['a ! 1', 3, /Unexpected character "!"/],
      ['a = @me', 5, /Expected @now or @auth/],
      ['a = @auth.x.y', 5, /Expected @now or @auth/],
      ['a. = 1', 3, /Expected a name after "\."/],
      ['a = 12abc', 5, /Malformed number/],
      ['a = 1.2.3', 5, /Malformed number/],
      ['a is 1', 6, /Expected "null" or "not null"/],
      ['a not 1', 7, /"in" after "not"/],
      ['a in 1', 6, /"\(" to open the list/],
      ['a in ()', 7, /Expected a field name or a value/],
      ['a in (1 2)', 9, /"," or "\)"/],
      ['', 1, /Expected a field name or a value but found the end/],
    ];
    for (const [text, column, message] of cases) {
      const error = parseError(text);
      expect(error.code, text).toBe('DATA_ERR_FILTER_SYNTAX');
      expect(error.detail, text).toMatch(message);
      expect(error.detail, text).toContain(`(at column ${column})`);
      expect(error.extensions, text).toEqual({ position: column });
    }
  });

  it('rejects values no field can hold with DATA_ERR_FILTER_VALUE', () => {
    for (const text of [
      'a = 1e400',
      'a = -1e400',
      String.raw`a = "x\u0000"`,
      `a = "x${'\0'}"`,
      String.raw`a = "\uD800"`,
    ]) {
      expect(parseError(text).code, text).toBe('DATA_ERR_FILTER_VALUE');
    }
  });

  it('quotes at most 40 characters of the input in errors', () => {
    const long = `a = 1 ${'x'.repeat(3000)}`;
    const detail = parseError(long).detail ?? '';
    expect(detail.length).toBeLessThan(160);
    expect(detail).not.toContain('x'.repeat(41));
    const unknown = parseError(`a = 1 && ${'b'.repeat(2000)}.`).detail ?? '';
    expect(unknown).not.toContain('b'.repeat(41));
  });

  it('enforces the limits with DATA_ERR_FILTER_LIMIT', () => {
    const ok = (n: number) => `${'('.repeat(n)}a = 1${')'.repeat(n)}`;
    expect(() => parseFilter(ok(FILTER_MAX_DEPTH))).not.toThrow();
    expect(parseError(ok(FILTER_MAX_DEPTH + 1)).code).toBe('DATA_ERR_FILTER_LIMIT');
    expect(parseError(ok(FILTER_MAX_DEPTH + 1)).extensions).toEqual({ position: FILTER_MAX_DEPTH + 1 });

    const list = (n: number) => `a in (${Array.from({ length: n }, (_, i) => i).join(',')})`;
    expect(() => parseFilter(list(FILTER_MAX_IN_ITEMS))).not.toThrow();
    expect(parseError(list(FILTER_MAX_IN_ITEMS + 1)).code).toBe('DATA_ERR_FILTER_LIMIT');

    const many = (n: number) => Array.from({ length: n }, (_, i) => `a=${i}`).join('&&');
    expect(() => parseFilter(many(FILTER_MAX_COMPARISONS))).not.toThrow();
    expect(parseError(many(FILTER_MAX_COMPARISONS + 1)).code).toBe('DATA_ERR_FILTER_LIMIT');

    const padded = `a = "${'x'.repeat(FILTER_MAX_LENGTH - 6)}"`;
    expect(padded).toHaveLength(FILTER_MAX_LENGTH);
    expect(() => parseFilter(padded)).not.toThrow();
    expect(parseError(`${padded} `).code).toBe('DATA_ERR_FILTER_LIMIT');
  });

  it('keeps keywords lowercase and words reserved', () => {
    expect(parseFilter('a = TRUE')).toMatchObject({ right: f('TRUE') });
    expect(parseError('null = in').code).toBe('DATA_ERR_FILTER_SYNTAX');
    expect(parseFilter('null = a')).toMatchObject({ left: lit(null), right: f('a') });
  });
});
