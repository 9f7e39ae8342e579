import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../src/db/database.js';
import { sharedPostgres } from '../harness/shared-engines.js';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

/**
 * The list read path (src/data/records/records.ts): rows come back from the driver as arrays
 * (`Database.selectArrays`) and are read by position, not through Kysely's row objects as a read
 * by id is. These tests hold the two paths to the same answer for every field type, NULLs,
 * `fields` and `expand`, on both dialects; check the `id`-ended indexes that let SQLite and
 * PostgreSQL read a sorted page in index order; and, on PostgreSQL, the named (prepared)
 * statements `selectArrays` uses: bounded per connection, and recovered when a table is re-created
 * with other column types.
 */

const people = {
  name: 'people',
  fields: [
    { name: 'name', type: 'text' },
    { name: 'age', type: 'number', integer: true },
  ],
};
const items = {
  name: 'items',
  fields: [
    { name: 'title', type: 'text' },
    { name: 'n', type: 'number', integer: true },
    { name: 'score', type: 'number' },
    { name: 'done', type: 'boolean' },
    { name: 'at', type: 'datetime' },
    { name: 'meta', type: 'json' },
    { name: 'kind', type: 'select', values: ['a', 'b', 'c'] },
    { name: 'kinds', type: 'select', values: ['a', 'b', 'c'], multiple: true },
    { name: 'owner', type: 'relation', collection: 'people' },
    { name: 'watchers', type: 'relation', collection: 'people', multiple: true },
    { name: 'mail', type: 'email' },
    { name: 'site', type: 'url' },
    { name: 'tag', type: 'text' },
    { name: 'code', type: 'text', unique: true },
  ],
  indexes: [{ fields: ['tag', 'n'] }],
};

/** Record i: every field set, or (every third) every optional field null. */
function itemData(i: number, ids: readonly string[]): Record<string, unknown> {
  const common = { tag: `t${i % 2}`, code: `c${i}` };
  if (i % 3 === 2) return { ...common, n: i % 5 === 0 ? null : i };
  return {
    ...common,
    title: `item "${i}" \\ é ✓ \n`,
    n: i,
    score: i / 7 - 1e-7 * i,
    done: i % 2 === 0,
    at: new Date(Date.UTC(2024, 0, 1 + i, 12, 30, 15, i)).toISOString(),
    meta: i % 4 === 0 ? { k: i, list: [1, 'x', null, { deep: true }] } : i % 4 === 1 ? 'text' : [i, 1.5],
    kind: ['a', 'b', 'c'][i % 3],
    kinds: ['c', 'a'].slice(0, i % 3),
    owner: ids[i % ids.length],
    watchers: [ids[(i + 1) % ids.length], ids[i % ids.length]],
    mail: `user${i}@example.com`,
    site: `https://example.com/${i}?q=${i}`,
  };
}

for (const target of dataTargets()) {
  describe.skipIf(!target.available)(`list read path: ${target.name}`, () => {
    let c: DataClient;
    const base = '/api/v1/collections/items/records';

    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      for (const def of [people, items]) {
        const res = await c.api('POST', '/api/v1/collections', def);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await c.api('POST', '/api/v1/collections/people/records', { name: `p${i}`, age: 30 + i });
        expect(res.status).toBe(201);
        ids.push(res.body.id);
      }
      const operations = Array.from({ length: 30 }, (_, i) => ({
        op: 'create',
        collection: 'items',
        data: itemData(i, ids),
      }));
      const res = await c.api('POST', '/api/v1/batch', { operations });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    });
    afterAll(() => c?.close());

    /** Every item of every page of `path`, following `next` links. */
    async function listAll(path: string): Promise<Record<string, unknown>[]> {
      const all: Record<string, unknown>[] = [];
      let next: string | undefined = path;
      while (next) {
        const page = await c.api('GET', next);
        expect(page.status, JSON.stringify(page.body)).toBe(200);
        all.push(...page.body.items);
        next = page.body.links.next;
      }
      return all;
    }

    it('lists every record exactly as a read by id returns it (every field type, NULLs)', async () => {
      for (const sort of ['', '-n', 'n,-score', 'at,title', '-done,kind']) {
        const listed = await listAll(`${base}?limit=7${sort ? `&sort=${sort}` : ''}`);
        expect(listed).toHaveLength(30);
        for (const item of listed) {
          const one = await c.api('GET', `${base}/${item.id}`);
          expect(one.status).toBe(200);
          // Same values and the same key order (the JSON text clients see).
          expect(JSON.stringify(item)).toBe(JSON.stringify(one.body));
        }
      }
      const nulls = (await listAll(`${base}?filter=${encodeURIComponent('title = null')}`)) as {
        meta: unknown;
        score: unknown;
        kinds: unknown;
      }[];
      expect(nulls).toHaveLength(10);
      for (const item of nulls) expect([item.meta, item.score]).toEqual([null, null]);
    });

    it('with fields and expand, matches reads by id field for field', async () => {
      const query = 'fields=id,n,meta,at,expand.owner.name&expand=owner,watchers&sort=-n&limit=4';
      const listed = await listAll(`${base}?${query}`);
      expect(listed).toHaveLength(30);
      for (const item of listed) {
        expect(Object.keys(item)).toEqual(['id', 'n', 'meta', 'at', 'expand']);
        const one = await c.api(
          'GET',
          `${base}/${item.id}?fields=id,n,meta,at,expand.owner.name&expand=owner,watchers`,
        );
        expect(JSON.stringify(item)).toBe(JSON.stringify(one.body));
      }
      const full = (await c.api('GET', `${base}?filter=${encodeURIComponent('code = "c0"')}&expand=owner`))
        .body.items[0];
      expect(full.expand.owner).toMatchObject({ name: 'p0', age: 30 });
    });

    it('sorts NULL as the greatest value and pages through ties by id', async () => {
      const asc = await listAll(`${base}?sort=n&limit=4`);
      const values = asc.map((item) => item.n);
      const firstNull = values.indexOf(null);
      expect(firstNull).toBeGreaterThan(0);
      expect(values.slice(firstNull).every((v) => v === null)).toBe(true);
      const numbers = values.slice(0, firstNull) as number[];
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
      const nullIds = asc.slice(firstNull).map((item) => item.id as string);
      expect(nullIds).toEqual([...nullIds].sort());
      const desc = await listAll(`${base}?sort=-n&limit=4`);
      expect(desc.map((item) => item.id)).toEqual([
        ...asc.slice(firstNull).map((item) => item.id),
        ...asc
          .slice(0, firstNull)
          .reverse()
          .map((item) => item.id),
      ]);
    });

    it('ends non-unique indexes with id, leaves unique ones as declared', async () => {
      const db = c.gw.platform.database;
      const columnsOf = async (index: string): Promise<string[]> => {
        if (db.dialect === 'sqlite') {
          const { rows } = await sql<{ name: string }>`select name from pragma_index_info(${index})`.execute(
            db.kysely,
          );
          return rows.map((row) => row.name);
        }
        const { rows } = await sql<{ def: string }>`
          select indexdef as def from pg_indexes where indexname = ${index}`.execute(db.kysely);
        const inner = /\((.*)\)$/.exec(rows[0]?.def ?? '')?.[1] ?? '';
        return inner.split(',').map((part) => part.trim().replace(/"/g, ''));
      };
      expect(await columnsOf('items_tag_n_idx')).toEqual(['tag', 'n', 'id']);
      expect(await columnsOf('items_owner_idx')).toEqual(['owner', 'id']);
      expect(await columnsOf('items_code_key')).toEqual(['code']);
      const dup = await c.api('POST', base, { code: 'c1' });
      expect(dup.status).toBe(409);
    });

    it('runs the list as one statement with the page order served by the (tag, n, id) index', async () => {
      const seen: { sql: string; parameters: readonly unknown[] }[] = [];
      const stop = c.gw.platform.database.observeQueries((q) => {
        if (q.sql.includes('from "items"')) seen.push(q);
      });
      const page = await c.api('GET', `${base}?filter=${encodeURIComponent('tag = "t1"')}&sort=n&limit=5`);
      stop();
      expect(page.status).toBe(200);
      expect(page.body.items.map((item: { n: number }) => item.n)).toEqual([1, 3, 7, 9, 11]);
      expect(seen).toHaveLength(1);
      const list = seen[0] as (typeof seen)[number];
      expect(list.sql).toMatch(/order by "items"\."n" asc nulls last, "items"\."id" asc limit/);
      const db = c.gw.platform.database;
      if (db.dialect === 'sqlite') {
        const { rows } = await db.kysely.executeQuery<{ detail: string }>(
          CompiledQuery.raw(`explain query plan ${list.sql}`, [...list.parameters]),
        );
        const plan = rows.map((row) => row.detail).join(' | ');
        expect(plan).toMatch(/USING INDEX items_tag_n_idx/);
        expect(plan).not.toMatch(/TEMP B-TREE/);
      }
    });

    it('lists like a read by id while its definition lags a column another node dropped', async () => {
      const created = await c.api('POST', '/api/v1/collections', {
        name: 'skew',
        fields: [
          { name: 'a', type: 'text' },
          { name: 'b', type: 'number' },
        ],
      });
      expect(created.status).toBe(201);
      const rec = await c.api('POST', '/api/v1/collections/skew/records', { a: 'x', b: 2 });
      expect(rec.status).toBe(201);
      const listOnce = () => c.api('GET', '/api/v1/collections/skew/records');
      expect((await listOnce()).body.items).toEqual([rec.body]);
      // Behind the registry's back, as another node's schema change looks until the next poll.
      await sql`alter table skew drop column b`.execute(c.gw.platform.database.kysely);
      const page = await listOnce();
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      expect(page.body.items).toEqual([{ ...rec.body, b: null }]);
      const one = await c.api('GET', `/api/v1/collections/skew/records/${rec.body.id}`);
      expect(JSON.stringify(page.body.items[0])).toBe(JSON.stringify(one.body));
    });
  });
}

const postgres = sharedPostgres();

describe.skipIf(!postgres.available)('Database.selectArrays on PostgreSQL: named statements', () => {
  let database: Database;

  beforeAll(async () => {
    // One connection, so every statement below runs on the same server session.
    database = new Database({ url: await postgres.createDatabase('arrays'), poolMax: 1 });
    await database.start();
  });
  afterAll(() => database?.close());

  const run = (text: string, parameters: unknown[] = []) =>
    database.selectArrays(CompiledQuery.raw(text, parameters));

  it('returns rows as arrays in select-list order, with the pool type parsers', async () => {
    const rows = await run(
      `select 'a' as x, 2::bigint as y, true as z, timestamptz '2024-01-02 03:04:05.678+00' as t, $1::int as p`,
      [7],
    );
    expect(rows).toEqual([['a', '2', true, '2024-01-02T03:04:05.678Z', 7]]);
  });

  it('keeps at most 64 named statements per connection; later ones run unnamed, all correct', async () => {
    for (let i = 1; i <= 80; i++) {
      const rows = await run(`select ${i} + $1::int as v`, [1]);
      expect(rows).toEqual([[i + 1]]);
    }
    const [[count]] = (await run(
      `select count(*)::int from pg_prepared_statements where name like 'gw_%'`,
    )) as [[number]];
    expect(count).toBe(64);
    // A statement prepared earlier is still reused (and still right).
    expect(await run('select 1 + $1::int as v', [41])).toEqual([[42]]);
  });

  it('db.preparedStatements false: the same answers, nothing prepared on the connection', async () => {
    const plain = new Database({
      url: await postgres.createDatabase('arrays_plain'),
      poolMax: 1,
      preparedStatements: false,
    });
    await plain.start();
    try {
      for (let i = 0; i < 3; i++)
        expect(await plain.selectArrays(CompiledQuery.raw('select 1 + $1::int as v', [i]))).toEqual([
          [i + 1],
        ]);
      const [[count]] = (await plain.selectArrays(
        CompiledQuery.raw(`select count(*)::int from pg_prepared_statements where name like 'gw_%'`, []),
      )) as [[number]];
      expect(count).toBe(0);
    } finally {
      await plain.close();
    }
  });

  it('recovers when a table is re-created with other column types under a prepared statement', async () => {
    await sql`create table arrays_t (a text)`.execute(database.kysely);
    await sql`insert into arrays_t values ('x')`.execute(database.kysely);
    const text = 'select a from arrays_t where $1::int = 1';
    expect(await run(text, [1])).toEqual([['x']]);
    await sql`drop table arrays_t`.execute(database.kysely);
    await sql`create table arrays_t (a bigint)`.execute(database.kysely);
    await sql`insert into arrays_t values (5)`.execute(database.kysely);
    // PostgreSQL refuses the prepared plan (its result type changed): run again, unnamed.
    expect(await run(text, [1])).toEqual([['5']]);
    expect(await run(text, [1])).toEqual([['5']]);
  });

  it('translates engine errors to GroundworkErrors', async () => {
    await expect(run('select * from no_such_table')).rejects.toMatchObject({ code: 'DB_ERR_QUERY' });
    expect(await run('select $1::int + 1', [1])).toEqual([[2]]);
  });
});
