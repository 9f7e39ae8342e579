import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { filterTree, withoutPositions } from './filter-arbitraries.test-support.js';
import { type FilterNode, printFilter } from './filter-ast.js';
import { FILTER_MAX_LENGTH, parseFilter } from './filter-parser.js';

const FILTER_CODES = ['DATA_ERR_FILTER_SYNTAX', 'DATA_ERR_FILTER_VALUE', 'DATA_ERR_FILTER_LIMIT'];

/** Parsing `text` gives a tree or a filter error: never another exception, never a stack overflow. */
function parsesOrRejects(text: string): FilterNode | GroundworkError {
  try {
    return parseFilter(text);
  } catch (error) {
    if (!(error instanceof GroundworkError) || !FILTER_CODES.includes(error.code)) throw error;
    // Errors quote at most ~40 characters of input, whatever the input's length.
    expect((error.detail ?? '').length).toBeLessThan(200);
    return error;
  }
}

const FRAGMENTS = [
  "'; DROP TABLE x; --",
  '/* */',
  '" OR 1=1',
  "' OR '1'='1",
  '--',
  ';',
  '\\',
  '\\u0000',
  '\u0000',
  '\uD800',
  '😀',
  'é',
  '\u202E',
  '1e400',
  `1${'0'.repeat(400)}`,
  '-',
  '+.',
  '.',
  '@',
  '@auth.',
  '@auth.id',
  '@now',
  '(',
  ')',
  '((((',
  '))))',
  ',',
  '&&',
  '||',
  '&',
  '|',
  '!',
  '=',
  '!=',
  '~',
  '!~',
  '>=',
  '<',
  'in',
  'not in',
  'is',
  'is not null',
  'null',
  'true',
  'a',
  'meta.a.b',
  'author.name',
  '"x"',
  "'y'",
  '"unterminated',
  ' ',
  '\n',
  '\t',
];

describe('parseFilter properties', () => {
  it('accepts or rejects (with a filter code) any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        parsesOrRejects(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts or rejects any sequence of filter-like and hostile fragments', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }), (parts) => {
        parsesOrRejects(parts.join(''));
        parsesOrRejects(parts.join(' '));
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips every valid tree: parse(print(tree)) is the tree', () => {
    fc.assert(
      fc.property(filterTree(), (tree) => {
        const text = printFilter(tree);
        fc.pre(text.length <= FILTER_MAX_LENGTH);
        const parsed = parseFilter(text);
        expect(withoutPositions(parsed)).toEqual(withoutPositions(tree));
        expect(printFilter(parsed)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('reads any JSON-quoted string back as the same string', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !s.includes('\0')),
        (value) => {
          expect(parseFilter(`a = ${JSON.stringify(value)}`)).toMatchObject({
            right: { kind: 'literal', value },
          });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('accepts or rejects valid filters with random edits', () => {
    const edit = fc.tuple(
      fc.nat(),
      fc.constantFrom('delete', 'insert', 'duplicate'),
      fc.constantFrom(...FRAGMENTS),
    );
    fc.assert(
      fc.property(filterTree(), fc.array(edit, { minLength: 1, maxLength: 4 }), (tree, edits) => {
        let text = printFilter(tree);
        for (const [n, kind, fragment] of edits) {
          const i = text.length === 0 ? 0 : n % text.length;
          if (kind === 'delete') text = text.slice(0, i) + text.slice(i + 1);
          else if (kind === 'insert') text = text.slice(0, i) + fragment + text.slice(i);
          else text = text.slice(0, i) + text.slice(i, i + 8) + text.slice(i);
        }
        parsesOrRejects(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('survives huge inputs without overflowing the stack', () => {
    const limit = (text: string) => {
      const outcome = parsesOrRejects(text);
      expect(outcome).toBeInstanceOf(GroundworkError);
      return (outcome as GroundworkError).code;
    };
    // 10,000 nested parentheses: over the length limit.
    expect(limit(`${'('.repeat(10_000)}a = 1${')'.repeat(10_000)}`)).toBe('DATA_ERR_FILTER_LIMIT');
    // 2,000 nested parentheses within the length limit: over the depth limit, found at depth 33.
    expect(limit(`${'('.repeat(2_000)}a = 1${')'.repeat(2_000)}`)).toBe('DATA_ERR_FILTER_LIMIT');
    expect(limit('('.repeat(4_000))).toBe('DATA_ERR_FILTER_LIMIT');
    // A 5,000-item list is over the length limit; 1,000 short items fit the length but not the list limit.
    expect(limit(`a in (${Array.from({ length: 5_000 }, (_, i) => i).join(',')})`)).toBe(
      'DATA_ERR_FILTER_LIMIT',
    );
    expect(limit(`a in (${'1,'.repeat(1_000)}1)`)).toBe('DATA_ERR_FILTER_LIMIT');
    // Long && / || chains: over the comparison limit, parsed iteratively.
    expect(limit(Array.from({ length: 1_000 }, () => 'a=1').join('||'))).toBe('DATA_ERR_FILTER_LIMIT');
    // 10^400 written out and as an exponent: not a finite number.
    expect(limit(`a = 1${'0'.repeat(400)}`)).toBe('DATA_ERR_FILTER_VALUE');
    expect(limit('a = 1e400')).toBe('DATA_ERR_FILTER_VALUE');
    // A megabyte of text is refused before it is read.
    expect(limit('"'.repeat(1_000_000))).toBe('DATA_ERR_FILTER_LIMIT');
  });
});
