import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { compilerFor, postsDef } from './query-fixtures.test-support.js';
import { applySort, orderByItems, parseSort, printSort, SORT_MAX_KEYS } from './sort.js';

function sortError(text: string): GroundworkError {
  try {
    parseSort(text, postsDef);
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    return error as GroundworkError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe('parseSort', () => {
  it('defaults to id ascending', () => {
    expect(parseSort(undefined, postsDef)).toEqual({
      keys: [{ field: 'id', direction: 'asc', storage: 'text' }],
    });
    expect(printSort(parseSort('', postsDef))).toBe('id');
    expect(printSort(parseSort('  ', postsDef))).toBe('id');
  });

  it('reads directions, trims spaces and appends id as the tie-breaker', () => {
    const sort = parseSort('-views, +title,published_at', postsDef);
    expect(sort.keys).toEqual([
      { field: 'views', direction: 'desc', storage: 'integer' },
      { field: 'title', direction: 'asc', storage: 'text' },
      { field: 'published_at', direction: 'asc', storage: 'datetime' },
      { field: 'id', direction: 'asc', storage: 'text' },
    ]);
    expect(printSort(parseSort('-id', postsDef))).toBe('-id');
    expect(printSort(parseSort('created,-id', postsDef))).toBe('created,-id');
    expect(printSort(parseSort('score,published,author,contact,updated', postsDef))).toBe(
      'score,published,author,contact,updated,id',
    );
  });

  it('rejects what does not sort with DATA_ERR_SORT_INVALID', () => {
    for (const [text, message] of [
      ['nope', /no such field/],
      ['meta', /JSON and multi-valued/],
      ['tags', /JSON and multi-valued/],
      ['-coauthors', /JSON and multi-valued/],
      ['meta.a', /no such field/],
      ['author.name', /no such field/],
      ['title,-title', /appears twice/],
      ['title,,views', /no such field/],
      ['--title', /no such field/],
      ['title;drop', /no such field/],
      [Array.from({ length: SORT_MAX_KEYS + 1 }, () => 'title').join(','), /at most 8/],
      ['x'.repeat(5000), /too long/],
    ] as const) {
      const error = sortError(text);
      expect(error.code, text).toBe('DATA_ERR_SORT_INVALID');
      expect(error.detail, text).toMatch(message);
      expect((error.detail ?? '').length).toBeLessThan(120);
    }
  });
});

describe('orderByItems / applySort', () => {
  it('writes NULL as the greatest value explicitly on both dialects', () => {
    const sort = parseSort('-views,title', postsDef);
    for (const dialect of ['sqlite', 'postgres'] as const) {
      const query = applySort(compilerFor(dialect).selectFrom('posts').select('id'), sort, 'posts');
      expect(query.compile().sql).toBe(
        'select "id" from "posts" order by "posts"."views" desc nulls first, "posts"."title" asc nulls last, "posts"."id" asc',
      );
    }
    expect(orderByItems(sort, 'posts')).toHaveLength(3);
  });
});
