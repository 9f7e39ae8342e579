import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroundworkError } from '../../src/core/errors.js';
import type { CollectionDef } from '../../src/data/collections/collection.js';
import { filterTree } from '../../src/data/query/filter-arbitraries.test-support.js';
import {
  applySort,
  compileFilter,
  decodeCursor,
  encodeCursor,
  type FilterNode,
  keysetCondition,
  parseFilter,
  parseSort,
  printSort,
  type SortSpec,
} from '../../src/data/query/index.js';
import {
  ALL,
  AUTHORS,
  authorsDef,
  createTable,
  except,
  insert,
  POSTS,
  postsDef,
  queryContext,
  type Row,
  toRecord,
} from '../../src/data/query/query-fixtures.test-support.js';
import { type AnyDb, Database } from '../../src/db/database.js';
import { sharedPostgres } from '../harness/shared-engines.js';

/**
 * The query compiler against real engines: the same filters, sorts and cursors over tables laid
 * out by the storage rules (`collections/collection.ts` storageOf, `field-values.ts`) must select
 * exactly the same rows on SQLite and on PostgreSQL. Tables are created by hand
 * (`createTable` in `query-fixtures.test-support.ts`), not by the collections DDL, so this suite
 * pins the compiler to the storage contract alone.
 */
const postgres = sharedPostgres();
const tmp = mkdtempSync(join(tmpdir(), 'gw-query-'));
let sqliteFiles = 0;

const targets = [
  { name: 'sqlite', available: true, newUrl: async () => `sqlite://${join(tmp, `q-${sqliteFiles++}.db`)}` },
  { name: 'postgres', available: postgres.available, newUrl: () => postgres.createDatabase('query') },
];

/** Filter → the posts it must select, on every engine. */
const EXPECTED: [string, string[]][] = [
  // text
  ['title = "Hello World"', ['p01']],
  ['title != "Hello World"', except('p01')],
  ['title ~ "hello"', ['p01', 'p04']],
  ['title !~ "HELLO"', except('p01', 'p04')],
  ['title ~ "%"', ['p02']],
  ['title ~ "_"', ['p02']],
  ['title ~ "0% OFF_"', ['p02']],
  ['title ~ "\\\\"', ['p05']],
  ['title ~ "\'reilly \\""', ['p08']],
  ['title ~ ""', except('p03')],
  ['title = ""', ['p07']],
  ['title >= "hello"', ['p04', 'p06']],
  ['title in ("ABC", "", "nope")', ['p07', 'p09']],
  ['title not in ("ABC", "")', except('p07', 'p09')],
  ['title in ("ABC", null)', ['p03', 'p09']],
  ['title = null', ['p03']],
  ['title is not null', except('p03')],
  ['contact ~ "EXAMPLE"', ['p01']],
  ['id ~ "p0" && id < "p03"', ['p01', 'p02']],
  // numbers
  ['views = 10', ['p01', 'p04']],
  ['views != 10', except('p01', 'p04')],
  ['views >= 9007199254740991', ['p06']],
  ['views < 0', ['p05']],
  ['0 < views && views <= 3', ['p07', 'p08']],
  ['views in (0, 3)', ['p02', 'p07']],
  ['views not in (10, 0)', except('p01', 'p02', 'p04')],
  ['score = 1.5', ['p01', 'p04']],
  ['score > 1e9', ['p05']],
  ['score < -1.99', ['p02']],
  ['score = 0.1', ['p06']],
  ['views = score', ['p03', 'p07', 'p09']],
  ['views != score', except('p03', 'p07', 'p09')],
  ['views > score', ['p01', 'p02', 'p04', 'p06']],
  // booleans
  ['published = true', ['p01', 'p04', 'p06']],
  ['published != true', except('p01', 'p04', 'p06')],
  ['published = false', ['p02', 'p05']],
  ['published is null', ['p03', 'p07', 'p08', 'p09']],
  // datetimes
  ['published_at > "2024-01-01"', ['p02', 'p04', 'p06']],
  ['published_at >= "2024-01-01T01:00:00+01:00"', ['p01', 'p02', 'p04', 'p06']],
  ['published_at = "1999-12-31T23:59:59.999Z"', ['p05']],
  ['published_at != "2024-01-01"', except('p01')],
  ['published_at < @now', ['p01', 'p02', 'p04', 'p05']],
  ['published_at in ("2024-01-01", "2026-01-01T00:00:00Z")', ['p01', 'p06']],
  ['created = "2024-01-01" && updated <= @now', ALL],
  // JSON paths
  ['meta.a.b = 5', ['p01']],
  ['meta.a.b = "5"', ['p02']],
  ['meta.a.b > 5', ['p04']],
  ['meta.a.b >= 5 && meta.a.b < 100', ['p01', 'p04']],
  ['meta.a.b != 5', except('p01')],
  ['meta.a.b in (5, "5")', ['p01', 'p02']],
  ['meta.a.b is not null', ['p01', 'p02', 'p04', 'p08']],
  ['meta.a.b.c = 1', ['p08']],
  ['meta.s = "abc"', ['p01', 'p08']],
  ['meta.s ~ "AB"', ['p01', 'p02', 'p08']],
  ['meta.s > "a"', ['p01', 'p08']],
  ['meta.s = 12', ['p04']],
  ['meta.flag = true', ['p01']],
  ['meta.flag != true', except('p01')],
  ['meta.flag = false', ['p02']],
  ['meta.n = null', ALL],
  ['meta.n is not null', []],
  ['meta.a = null', ['p03', 'p05', 'p06', 'p09']],
  ['meta = 5', ['p05']],
  ['meta = "just a string"', ['p06']],
  ['meta ~ "JUST"', ['p06']],
  ['meta is null', ['p03']],
  ['meta.0 = "zero"', ['p07']],
  ['meta.a.0.b = 1', []],
  ['meta.1 = "zero"', []],
  ['meta.arr ~ "1"', []],
  // multi-valued fields
  ['tags ~ "news"', ['p01', 'p05']],
  ['tags !~ "news"', except('p01', 'p05')],
  ['tags ~ "a%b"', ['p02']],
  ['tags ~ "a"', []],
  ['tags is null', ['p03', 'p06', 'p08', 'p09']],
  ['tags != null', ['p01', 'p02', 'p04', 'p05', 'p07']],
  ['coauthors ~ "a1"', ['p05', 'p06']],
  ['coauthors is null', ['p02', 'p03', 'p07', 'p08', 'p09']],
  // relations
  ['author = "a1"', ['p01', 'p04', 'p08']],
  ['author != "a1"', except('p01', 'p04', 'p08')],
  ['author.name ~ "ada"', ['p01', 'p04', 'p08']],
  ['author.name = null', ['p05']],
  ['author.name != "Ada Lovelace"', ['p02', 'p05', 'p06', 'p07']],
  ['author.age > 30', ['p01', 'p04', 'p06', 'p08']],
  ['author.meta.lang = "en"', ['p01', 'p04', 'p08']],
  ['author.roles ~ "admin"', ['p01', 'p04', 'p08']],
  ['author.mentor = "a1"', ['p02', 'p05', 'p07']],
  ['author.id = owner', ['p01', 'p02', 'p06']],
  ['author = owner', ['p01', 'p02', 'p03', 'p06', 'p09']],
  ['author.born < published_at', ['p01', 'p04']],
  ['coauthors.name ~ "bob"', ['p01']],
  ['coauthors.age >= 50', ['p04', 'p06']],
  ['coauthors.name = null', ['p01']],
  ['coauthors.name !~ "ada"', ['p01', 'p04', 'p06']],
  ['coauthors.meta.lang = "en"', ['p05', 'p06']],
  // logic
  ['views = 10 && title ~ "there" || tags ~ "news"', ['p01', 'p04', 'p05']],
  ['views = 10 && (title ~ "there" || tags ~ "news")', ['p01', 'p04']],
  ['(published = true || published = false) && 1 = 2', []],
];

const AUTH_EXPECTED: [string, Record<string, unknown>, string[]][] = [
  ['owner = @auth.id', { id: 'a1' }, ['p01']],
  ['owner = @auth.id', {}, []],
  ['owner = @auth.id', { id: null }, []],
  ['owner != @auth.id', { id: 'a1' }, except('p01')],
  ['owner != @auth.id', {}, []],
  ['@auth.id = owner || published = true', {}, ['p01', 'p04', 'p06']],
  ['@auth.id = null || owner = @auth.id', {}, ALL],
  ['@auth.id != null && owner = @auth.id', { id: 'a3' }, ['p04']],
  ['coauthors ~ @auth.id', { id: 'a4' }, ['p04', 'p06']],
  ['coauthors !~ @auth.id', {}, []],
  ['owner.name ~ @auth.q', { q: 'ADA' }, ['p01']],
  ['views >= @auth.min', { min: 10 }, ['p01', 'p04', 'p06']],
  ['views >= @auth.min', { min: '10' }, []],
  ['@auth.role = "admin" || owner = @auth.id', { role: 'admin', id: 'x' }, ALL],
];

for (const target of targets) {
  describe.skipIf(!target.available)(`query conformance: ${target.name}`, () => {
    let db: Database<AnyDb>;
    const ctx = (auth: Record<string, unknown> = {}, collection: CollectionDef = postsDef) =>
      queryContext(db.dialect, auth, collection);

    async function select(
      filter: string,
      auth: Record<string, unknown> = {},
      def = postsDef,
    ): Promise<string[]> {
      const rows = await db.kysely
        .selectFrom(def.name)
        .select('id')
        .where(compileFilter(parseFilter(filter), ctx(auth, def)))
        .orderBy('id')
        .execute();
      return rows.map((row) => row.id as string);
    }

    beforeAll(async () => {
      db = new Database({ url: await target.newUrl() });
      await db.start();
      await createTable(db, authorsDef);
      await createTable(db, postsDef);
      await insert(db, authorsDef, AUTHORS);
      await insert(db, postsDef, POSTS);
    });
    afterAll(() => db?.close());

    it('selects exactly the expected rows for every operator and field type', async () => {
      for (const [filter, expected] of EXPECTED) {
        expect(await select(filter), filter).toEqual(expected);
      }
    });

    it('follows relations on a self-referencing collection', async () => {
      expect(await select('mentor.name = "Ada Lovelace"', {}, authorsDef)).toEqual(['a2', 'a3']);
      expect(await select('mentor.mentor = "a1"', {}, authorsDef)).toEqual(['a4']);
      expect(await select('mentor.roles !~ "admin"', {}, authorsDef)).toEqual(['a4']);
    });

    it('makes comparisons with a null @auth value false, explicit null tests aside', async () => {
      for (const [filter, auth, expected] of AUTH_EXPECTED) {
        expect(await select(filter, auth), `${filter} with ${JSON.stringify(auth)}`).toEqual(expected);
      }
    });

    it('evaluates JSON paths over stored JSON of every shape without an engine error', async () => {
      const paths = [
        'meta',
        'meta.a',
        'meta.a.b',
        'meta.s',
        'meta.flag',
        'meta.n',
        'meta.0',
        'meta.a.0.b',
        'meta.arr',
      ];
      const values = ['5', '"5"', '7.5', '0', '-1', '"abc"', '"AB"', '""', 'true', 'false', 'null', '1e300'];
      const ops = ['=', '!=', '<', '<=', '>', '>=', '~', '!~'];
      let checked = 0;
      for (const path of paths)
        for (const value of values)
          for (const op of ops) {
            const filter = `${path} ${op} ${value}`;
            const expected = jsonOracle(path.split('.').slice(1), op, JSON.parse(value));
            if (expected === 'error') {
              expect(() => parseAndCompile(filter, ctx()), filter).toThrow(GroundworkError);
              continue;
            }
            expect(await select(filter), filter).toEqual(expected);
            checked++;
          }
      expect(checked).toBeGreaterThan(500);
    });

    it('binds every value as a parameter: SQL text never depends on a value, and any string runs', async () => {
      const templates = [
        (v: string) => `title = ${v}`,
        (v: string) => `title ~ ${v}`,
        (v: string) => `title !~ ${v} && meta.s != ${v}`,
        (v: string) => `tags ~ ${v} || author.name ~ ${v}`,
        (v: string) => `coauthors.meta.lang = ${v} || title in (${v}, "x")`,
      ];
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
            fc.constantFrom(
              "'; DROP TABLE posts; --",
              '" OR 1=1 --',
              '/* */',
              '\\',
              '%',
              '_',
              '😀',
              'Hello World',
            ),
          ),
          fc.constantFrom(...templates),
          async (raw, template) => {
            const value = raw.replaceAll('\0', '');
            fc.pre(value.length > 0);
            const build = (v: string) =>
              db.kysely
                .selectFrom('posts')
                .select('id')
                .where(compileFilter(parseFilter(template(JSON.stringify(v))), ctx()));
            const probe = build(value).compile();
            expect(probe.sql).toBe(build('reference').compile().sql);
            const params = probe.parameters.map(String);
            expect(
              params.some((p) => p === value || p.includes(value.replace(/[\\%_]/g, (c) => `\\${c}`))),
            ).toBe(true);
            const rows = await build(value).execute();
            if (template === templates[0])
              expect(rows.map((r) => r.id)).toEqual(POSTS.filter((p) => p.title === value).map((p) => p.id));
            if (template === templates[1] && (db.dialect === 'sqlite' || /^[\x20-\x7e]*$/.test(value))) {
              const lower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
              const expected = POSTS.filter(
                (p) => typeof p.title === 'string' && lower(p.title).includes(lower(value)),
              );
              expect(rows.map((r) => r.id).sort()).toEqual(expected.map((p) => p.id));
            }
          },
        ),
        { numRuns: 300 },
      );
      expect(await db.kysely.selectFrom('posts').select('id').execute()).toHaveLength(POSTS.length);
    });

    describe('sort and keyset pages', () => {
      const itemsDef: CollectionDef = {
        ...postsDef,
        name: 'items',
        fields: [
          { name: 'grp', type: 'text', required: false, unique: false },
          { name: 'n', type: 'number', integer: true, required: false, unique: false },
          { name: 'x', type: 'number', integer: false, required: false, unique: false },
          { name: 'flag', type: 'boolean', required: false, unique: false },
          { name: 'at', type: 'datetime', required: false, unique: false },
        ],
      };
      const SORTS = [
        '',
        'n',
        '-n,grp',
        'grp,-x',
        'flag,-at,n',
        '-flag,grp,-n,x',
        'at',
        '-id',
        '-grp,-n,-x,-flag,-at',
      ];
      let seed = 7;
      const random = () => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed / 2147483648;
      };
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      const makeItem = (id: string): Row => ({
        id,
        grp: pick(['a', 'b', 'B', 'aa', '', null]),
        n: pick([1, 2, 3, -1, 9007199254740991, null]),
        x: pick([0.5, 1.5, -2.25, 1e-7, null]),
        flag: pick([true, false, null]),
        at: pick(['2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.001Z', '1970-01-01T00:00:00.000Z', null]),
      });
      const ITEMS = Array.from({ length: 60 }, (_, i) => makeItem(`i${String(i * 10).padStart(4, '0')}`));

      beforeAll(async () => {
        await createTable(db, itemsDef);
        await insert(db, itemsDef, ITEMS);
      });

      /** The expected order, computed independently: NULL is the greatest value. */
      function sorted(rows: readonly Row[], sort: SortSpec): Row[] {
        const compare = (a: unknown, b: unknown): number => {
          if (a === b) return 0;
          if (a === null || a === undefined) return 1;
          if (b === null || b === undefined) return -1;
          return (a as number) < (b as number) ? -1 : 1;
        };
        return [...rows].sort((r, s) => {
          for (const key of sort.keys) {
            const order = compare(r[key.field], s[key.field]);
            if (order !== 0) return key.direction === 'asc' ? order : -order;
          }
          return 0;
        });
      }

      async function page(
        table: CollectionDef,
        sort: SortSpec,
        limit: number,
        cursor?: string,
        filter?: string,
      ) {
        let query = db.kysely.selectFrom(table.name).selectAll();
        if (filter) query = query.where(compileFilter(parseFilter(filter), ctx({}, table)));
        if (cursor) query = query.where(keysetCondition(sort, decodeCursor(cursor, sort), ctx({}, table)));
        const rows = (await applySort(query, sort, table.name).limit(limit).execute()).map((row) =>
          toRecord(table, row, db.dialect),
        );
        const last = rows.at(-1);
        const next =
          rows.length === limit && last
            ? encodeCursor(
                sort,
                sort.keys.map((key) => last[key.field] ?? null),
              )
            : undefined;
        return { rows, next };
      }

      async function pageThrough(
        table: CollectionDef,
        sort: SortSpec,
        limit: number,
        between?: () => Promise<void>,
        filter?: string,
      ) {
        const seen: Row[] = [];
        const ids = new Set<unknown>();
        let cursor: string | undefined;
        for (let guard = 0; guard < 500; guard++) {
          const result = await page(table, sort, limit, cursor, filter);
          for (const row of result.rows) {
            // Fail at the first repeat: a broken keyset would otherwise page forever.
            if (ids.has(row.id))
              throw new Error(`${printSort(sort)} by ${limit}: row ${String(row.id)} seen twice`);
            ids.add(row.id);
          }
          seen.push(...result.rows);
          if (!result.next) return seen;
          cursor = result.next;
          await between?.();
        }
        throw new Error('pagination did not end');
      }

      it('orders identically on every engine, with NULL as the greatest value', async () => {
        for (const text of SORTS) {
          const sort = parseSort(text, itemsDef);
          const rows = await applySort(db.kysely.selectFrom('items').selectAll(), sort, 'items').execute();
          expect(
            rows.map((r) => r.id),
            text,
          ).toEqual(sorted(ITEMS, sort).map((r) => r.id));
        }
      });

      it('pages through every row exactly once, in order, for mixed directions with NULLs and ties', async () => {
        for (const text of SORTS)
          for (const limit of [1, 7, 60, 100]) {
            const sort = parseSort(text, itemsDef);
            const seen = await pageThrough(itemsDef, sort, limit);
            expect(
              seen.map((r) => r.id),
              `${text} by ${limit}`,
            ).toEqual(sorted(ITEMS, sort).map((r) => r.id));
          }
      });

      it('pages a filtered listing', async () => {
        const sort = parseSort('-flag,grp', itemsDef);
        const filter = 'n != 2 && grp !~ "a"';
        const seen = await pageThrough(itemsDef, sort, 4, undefined, filter);
        const expected = ITEMS.filter(
          (r) => r.n !== 2 && !(typeof r.grp === 'string' && r.grp.toLowerCase().includes('a')),
        );
        expect(expected.length).toBeGreaterThan(8);
        expect(seen.map((r) => r.id)).toEqual(sorted(expected, sort).map((r) => r.id));
      });

      it('stays stable while rows are inserted between pages', async () => {
        for (const [n, text] of SORTS.entries()) {
          const table: CollectionDef = { ...itemsDef, name: `items_ins_${n}` };
          await createTable(db, table);
          await insert(db, table, ITEMS);
          const sort = parseSort(text, table);
          let added = 0;
          const seen = await pageThrough(table, sort, 5, async () => {
            // New ids fall between existing ones (and before/after all of them).
            const fresh = [0, 1, 2].map(() =>
              makeItem(`i${String(Math.floor(random() * 700)).padStart(4, '0')}n${added++}`),
            );
            await insert(db, table, fresh);
          });
          const ids = seen.map((r) => r.id as string);
          expect(new Set(ids).size, text).toBe(ids.length); // no row twice
          const originals = ids.filter((id) => !id.includes('n'));
          expect(originals, text).toEqual(sorted(ITEMS, sort).map((r) => r.id)); // none skipped, in order
          expect(added).toBeGreaterThan(0);
        }
      });

      it('rejects a cursor from another sort or a forged one', async () => {
        const sort = parseSort('n', itemsDef);
        const { next } = await page(itemsDef, sort, 3);
        expect(next).toBeDefined();
        expect(() => decodeCursor(next as string, parseSort('-n', itemsDef))).toThrow(
          expect.objectContaining({ code: 'DATA_ERR_CURSOR_INVALID' }) as unknown as Error,
        );
      });
    });
  });
}

function parseAndCompile(filter: string, context: ReturnType<typeof queryContext>) {
  return compileFilter(parseFilter(filter), context);
}

/**
 * What a JSON path comparison selects among POSTS, from the documented semantics: object keys only
 * (never array indexes), typed comparison, null = missing or JSON null. 'error' where the filter
 * must be rejected.
 */
function jsonOracle(path: string[], op: string, value: unknown): string[] | 'error' {
  if (value === null && op !== '=' && op !== '!=') return 'error';
  if (typeof value === 'boolean' && op !== '=' && op !== '!=') return 'error';
  if ((op === '~' || op === '!~') && typeof value !== 'string') return 'error';
  const at = (stored: unknown): unknown => {
    let current = stored;
    for (const segment of path) {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
    return current;
  };
  const lower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const positive = (stored: unknown): boolean => {
    if (value === null) return stored === undefined || stored === null;
    if (typeof stored !== typeof value) return false;
    const [a, b] = [stored as string | number, value as string | number];
    switch (op) {
      case '=':
      case '!=':
        return a === b;
      case '~':
      case '!~':
        return lower(a as string).includes(lower(b as string));
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      case '>':
        return a > b;
      default:
        return a >= b;
    }
  };
  const negated = op === '!=' || op === '!~';
  return POSTS.filter((post) => positive(at(post.meta ?? null)) !== negated).map((post) => post.id as string);
}

describe.skipIf(!postgres.available)(
  'query conformance: SQLite and PostgreSQL agree on random filters',
  () => {
    const engines: Database<AnyDb>[] = [];

    beforeAll(async () => {
      for (const url of [`sqlite://${join(tmp, 'agree.db')}`, await postgres.createDatabase('agree')]) {
        const db = new Database({ url });
        await db.start();
        await createTable(db, authorsDef);
        await createTable(db, postsDef);
        await insert(db, authorsDef, AUTHORS);
        await insert(db, postsDef, POSTS);
        engines.push(db);
      }
    });
    afterAll(() => Promise.all(engines.map((db) => db.close())));

    it('selects the same rows or fails the same way', async () => {
      const paths = [
        'title',
        'views',
        'score',
        'published',
        'published_at',
        'meta',
        'meta.a.b',
        'meta.s',
        'meta.flag',
        'tags',
        'author',
        'author.name',
        'author.age',
        'author.meta.lang',
        'coauthors',
        'coauthors.name',
        'owner',
        'id',
      ].map((p) => ({ kind: 'field' as const, path: p.split('.') }));
      const literals = [
        'Hello World',
        'hello',
        'abc',
        'AB',
        '%',
        '_',
        '',
        'a1',
        'a4',
        'news',
        '5',
        'en',
        '2024-01-01',
        '2025-01-01T00:00:00Z',
        0,
        1,
        5,
        10,
        1.5,
        -2,
        7.5,
        9007199254740991,
        true,
        false,
        null,
      ].map((value) => ({ kind: 'literal' as const, value }));
      const values = fc.oneof(
        fc.constantFrom(...literals),
        fc.constantFrom(
          { kind: 'auth' as const, name: 'id' },
          { kind: 'auth' as const, name: 'none' },
          { kind: 'now' as const },
        ),
      );
      const operands = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...paths) },
        { weight: 1, arbitrary: values },
      );
      let compared = 0;
      await fc.assert(
        fc.asyncProperty(filterTree(operands, values), async (tree: FilterNode) => {
          const outcomes = await Promise.all(
            engines.map(async (db) => {
              try {
                const rows = await db.kysely
                  .selectFrom('posts')
                  .select('id')
                  .where(compileFilter(tree, queryContext(db.dialect, { id: 'a1' })))
                  .orderBy('id')
                  .execute();
                return rows.map((r) => r.id);
              } catch (error) {
                if (!(error instanceof GroundworkError) || !error.code.startsWith('DATA_ERR_FILTER_'))
                  throw error;
                return error.code;
              }
            }),
          );
          expect(outcomes[1]).toEqual(outcomes[0]);
          if (Array.isArray(outcomes[0])) compared++;
        }),
        { numRuns: 600 },
      );
      expect(compared).toBeGreaterThan(100);
    });
  },
);
