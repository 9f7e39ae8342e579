import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

const authors = {
  name: 'authors',
  fields: [
    { name: 'name', type: 'text', required: true, max: 100 },
    { name: 'email', type: 'email', unique: true },
  ],
  rules: { list: '', view: '', create: null, update: null, delete: null },
};
const tags = { name: 'tags', fields: [{ name: 'label', type: 'text', required: true }] };
const posts = {
  name: 'posts',
  fields: [
    { name: 'title', type: 'text', required: true, min: 1, max: 200 },
    { name: 'views', type: 'number', integer: true, min: 0, default: 0 },
    { name: 'score', type: 'number' },
    { name: 'published', type: 'boolean', default: false },
    { name: 'at', type: 'datetime' },
    { name: 'meta', type: 'json' },
    { name: 'status', type: 'select', values: ['draft', 'live', 'archived'], default: 'draft' },
    { name: 'author', type: 'relation', collection: 'authors', onDelete: 'cascade' },
    { name: 'tags', type: 'relation', collection: 'tags', multiple: true, onDelete: 'set null' },
    { name: 'homepage', type: 'url' },
  ],
  indexes: [{ fields: ['published', 'views'] }],
  rules: { list: 'published = true', view: 'published = true', create: null, update: null, delete: null },
};

async function columns(c: DataClient, table: string): Promise<string[]> {
  const db = c.gw.platform.database;
  if (db.dialect === 'sqlite') {
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(
      db.kysely,
    );
    return rows.map((r) => r.name);
  }
  const { rows } = await sql<{ name: string }>`
    select column_name as name from information_schema.columns where table_name = ${table} order by ordinal_position`.execute(
    db.kysely,
  );
  return rows.map((r) => r.name);
}

async function indexes(c: DataClient, table: string): Promise<string[]> {
  const db = c.gw.platform.database;
  const { rows } =
    db.dialect === 'sqlite'
      ? await sql<{
          name: string;
        }>`select name from sqlite_master where type = 'index' and tbl_name = ${table} and sql is not null`.execute(
          db.kysely,
        )
      : await sql<{
          name: string;
        }>`select indexname as name from pg_indexes where tablename = ${table} and indexname not like '%_pkey'`.execute(
          db.kysely,
        );
  return rows.map((r) => r.name).sort();
}

for (const target of dataTargets()) {
  describe.skipIf(!target.available)(`data API: ${target.name}`, () => {
    let c: DataClient;
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      for (const def of [authors, tags, posts]) {
        const res = await c.api('POST', '/api/v1/collections', def);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
    });
    afterAll(() => c?.close());

    it('makes each collection a real table with real columns and indexes', async () => {
      expect(await columns(c, 'posts')).toEqual([
        'id',
        'created',
        'updated',
        '_version',
        ...posts.fields.map((f) => f.name),
      ]);
      expect(await indexes(c, 'posts')).toEqual(['posts_author_idx', 'posts_published_views_idx']);
      expect(await indexes(c, 'authors')).toEqual(['authors_email_key']);
    });

    it('needs an admin for collections; anonymous gets 401, a bad key 401', async () => {
      expect((await c.api('GET', '/api/v1/collections', undefined, { auth: false })).status).toBe(401);
      const bad = await c.api('GET', '/api/v1/collections', undefined, {
        auth: false,
        headers: { authorization: 'Bearer gwk_aaaaaaaa_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' },
      });
      expect(bad.status).toBe(401);
      expect(bad.body.code).toBe('AUTH_ERR_INVALID_CREDENTIALS');
      const list = await c.api('GET', '/api/v1/collections');
      expect(list.body.items.map((x: { name: string }) => x.name)).toEqual(['authors', 'tags', 'posts']);
    });

    it('refuses invalid names and definitions with every problem listed', async () => {
      for (const name of [
        'select',
        'Robert"); DROP TABLE posts;--',
        'a'.repeat(49),
        '_gw_meta',
        '1abc',
        'posts',
      ]) {
        const res = await c.api('POST', '/api/v1/collections', { name, fields: [] });
        expect(res.status, name).toBe(name === 'posts' ? 409 : 400);
      }
      const res = await c.api('POST', '/api/v1/collections', {
        name: 'bad_defs',
        fields: [
          { name: 'x', type: 'text' },
          { name: 'x', type: 'number' },
          { name: 'r', type: 'relation', collection: 'nowhere' },
        ],
        indexes: [{ fields: ['nope'] }],
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('DATA_ERR_COLLECTION_INVALID');
      expect(res.body.errors.map((e: { code: string }) => e.code).sort()).toEqual([
        'duplicate',
        'unknown_collection',
        'unknown_field',
      ]);
      const rule = await c.api('POST', '/api/v1/collections', {
        name: 'bad_rule',
        rules: { list: 'nope = 1' },
      });
      expect(rule.status).toBe(400);
      expect(rule.body.errors[0].path).toBe('rules.list');
    });

    it('creates records with defaults, validates every field, checks relations', async () => {
      const author = await c.api('POST', '/api/v1/collections/authors/records', {
        name: 'Ada',
        email: 'ada@example.com',
      });
      expect(author.status).toBe(201);
      expect(author.headers.get('location')).toBe(`/api/v1/collections/authors/records/${author.body.id}`);
      expect(author.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      ids.ada = author.body.id;
      const tag = await c.api('POST', '/api/v1/collections/tags/records', { label: 'db' });
      ids.tag = tag.body.id;

      const post = await c.api('POST', '/api/v1/collections/posts/records', {
        title: 'Hello',
        author: ids.ada,
        tags: [ids.tag],
        at: '2026-01-02T03:04:05+01:00',
        meta: { a: { b: 1 } },
      });
      expect(post.status, JSON.stringify(post.body)).toBe(201);
      expect(post.body).toMatchObject({
        title: 'Hello',
        views: 0,
        published: false,
        status: 'draft',
        at: '2026-01-02T02:04:05.000Z',
        meta: { a: { b: 1 } },
        tags: [ids.tag],
        score: null,
      });
      ids.post = post.body.id;

      const bad = await c.api('POST', '/api/v1/collections/posts/records', {
        title: '',
        views: 1.5,
        status: 'nope',
        homepage: 'javascript:alert(1)',
        author: '0190a0b0-0000-7000-8000-000000000000',
        extra: 1,
      });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('DATA_ERR_VALIDATION');
      const byField = Object.fromEntries(
        bad.body.errors.map((e: { field: string; code: string }) => [e.field, e.code]),
      );
      expect(byField).toEqual({
        extra: 'unknown_field',
        title: 'required',
        views: 'type',
        status: 'select',
        homepage: 'url',
      });
      const missing = await c.api('POST', '/api/v1/collections/posts/records', {
        title: 'x',
        author: '0190a0b0-0000-7000-8000-000000000000',
      });
      expect(missing.status).toBe(400);
      expect(missing.body.errors[0]).toMatchObject({ field: 'author', code: 'relation_not_found' });
      const duplicate = await c.api('POST', '/api/v1/collections/authors/records', {
        name: 'B',
        email: 'ada@example.com',
      });
      expect(duplicate.status).toBe(409);
    });

    it('refuses non-JSON bodies (415) and URLs/emails that are not RFC 3986 / ASCII', async () => {
      const res = await fetch(`${c.gw.url}/api/v1/collections/tags/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.adminKey}`, 'content-type': 'text/plain' },
        body: 'label=x',
      });
      expect(res.status).toBe(415);
      expect(((await res.json()) as { code: string }).code).toBe('HTTP_ERR_UNSUPPORTED_MEDIA_TYPE');
      for (const [field, value] of [
        ['homepage', 'http://x/a b'],
        ['homepage', 'https://ü.de/'],
      ]) {
        const bad = await c.api('POST', '/api/v1/collections/posts/records', {
          title: 't',
          [field as string]: value,
        });
        expect(bad.status, value).toBe(400);
        expect(bad.body.errors[0].code).toBe('url');
      }
      for (const email of ['ü@x.de', 'a_b@x_y.de', 'no-at-sign']) {
        const bad = await c.api('POST', '/api/v1/collections/authors/records', { name: 'n', email });
        expect(bad.status, email).toBe(400);
        expect(bad.body.errors[0].code).toBe('email');
      }
    });

    it('ETag, If-None-Match → 304, If-Match → 412 when stale', async () => {
      const path = `/api/v1/collections/posts/records/${ids.post}`;
      const first = await c.api('GET', path);
      const etag = first.headers.get('etag') ?? '';
      expect(etag).toMatch(/^"\d+-[0-9a-z]+"$/);
      expect((await c.api('GET', path, undefined, { headers: { 'if-none-match': etag } })).status).toBe(304);
      const ok = await c.api('PATCH', path, { views: 5 }, { headers: { 'if-match': etag } });
      expect(ok.status).toBe(200);
      expect(ok.body.views).toBe(5);
      expect(ok.headers.get('etag')).not.toBe(etag);
      const stale = await c.api('PATCH', path, { views: 6 }, { headers: { 'if-match': etag } });
      expect(stale.status).toBe(412);
      expect(stale.body.code).toBe('DATA_ERR_PRECONDITION_FAILED');
      expect((await c.api('GET', path)).body.views).toBe(5);
      const replaced = await c.api('PUT', path, { title: 'Replaced', author: ids.ada });
      expect(replaced.body).toMatchObject({ title: 'Replaced', views: 0, tags: null, meta: null });
    });

    it('enforces rules in SQL: anonymous sees only published posts, even with limit 1', async () => {
      for (let i = 0; i < 5; i++) {
        await c.api('POST', '/api/v1/collections/posts/records', { title: `hidden ${i}`, author: ids.ada });
      }
      const visible = await c.api('POST', '/api/v1/collections/posts/records', {
        title: 'visible',
        author: ids.ada,
        published: true,
      });
      const anon = await c.api('GET', '/api/v1/collections/posts/records?limit=1', undefined, {
        auth: false,
      });
      expect(anon.status).toBe(200);
      expect(anon.body.items.map((p: { id: string }) => p.id)).toEqual([visible.body.id]);
      expect(anon.body.nextCursor).toBeNull();
      const hidden = await c.api('GET', `/api/v1/collections/posts/records/${ids.post}`, undefined, {
        auth: false,
      });
      expect(hidden.status).toBe(404);
      const create = await c.api(
        'POST',
        '/api/v1/collections/posts/records',
        { title: 'x' },
        { auth: false },
      );
      expect(create.status).toBe(401);
      // The rule is part of the statement the database runs, not a filter applied afterwards.
      const seen: string[] = [];
      const stop = c.gw.platform.database.observeQueries((q) => seen.push(q.sql));
      await c.api('GET', '/api/v1/collections/posts/records', undefined, { auth: false });
      stop();
      const list = seen.find((s) => s.includes('from "posts"'));
      expect(list).toMatch(/"posts"\."published" = /);
    });

    it('lists with filter, multi-key sort, cursor pages, fields and expand', async () => {
      const made: string[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await c.api('POST', '/api/v1/collections/posts/records', {
          title: `list ${String(i).padStart(2, '0')}`,
          views: i % 3,
          author: ids.ada,
          tags: [ids.tag],
          published: true,
        });
        made.push(res.body.id);
      }
      const seen: string[] = [];
      let path = `/api/v1/collections/posts/records?filter=${encodeURIComponent('title ~ "list" && views >= 0')}&sort=-views,title&limit=5&fields=id,title,views,expand.author.name&expand=author,tags`;
      let pages = 0;
      while (path) {
        const page = await c.api('GET', path);
        expect(page.status, JSON.stringify(page.body)).toBe(200);
        for (const item of page.body.items) {
          expect(Object.keys(item).sort()).toEqual(['expand', 'id', 'title', 'views']);
          expect(item.expand.author).toEqual({ name: 'Ada' });
          expect(item.expand.tags[0].label).toBe('db');
          seen.push(item.id);
        }
        if (page.body.nextCursor) expect(page.headers.get('link')).toContain('rel="next"');
        // A record inserted between pages never shows up twice nor pushes one out.
        if (pages === 0)
          await c.api('POST', '/api/v1/collections/posts/records', {
            title: 'list 99',
            views: 2,
            author: ids.ada,
            published: true,
          });
        path = page.body.links.next ?? '';
        pages++;
      }
      expect(new Set(seen).size).toBe(seen.length);
      for (const id of made) expect(seen).toContain(id);
      const total = await c.api(
        'GET',
        `/api/v1/collections/posts/records?filter=${encodeURIComponent('title ~ "list"')}&total=true&limit=1`,
      );
      expect(total.body.total).toBe(13);
    });

    it('rejects bad query parameters with 400s, never 500', async () => {
      const base = '/api/v1/collections/posts/records';
      const cases: [string, string][] = [
        [`${base}?limit=0`, 'DATA_ERR_QUERY_INVALID'],
        [`${base}?limit=100000`, 'DATA_ERR_QUERY_INVALID'],
        [`${base}?nope=1`, 'DATA_ERR_QUERY_INVALID'],
        [`${base}?fields=nope`, 'DATA_ERR_QUERY_INVALID'],
        [`${base}?expand=title`, 'DATA_ERR_QUERY_INVALID'],
        [`${base}?cursor=abc&offset=1`, 'DATA_ERR_QUERY_INVALID'],
        [`${base}?cursor=${encodeURIComponent('!!!')}`, 'DATA_ERR_CURSOR_INVALID'],
        [`${base}?sort=meta`, 'DATA_ERR_SORT_INVALID'],
        [`${base}?filter=${encodeURIComponent("title = 'x' OR 1=1 --")}`, 'DATA_ERR_FILTER_SYNTAX'],
        [`${base}?filter=${encodeURIComponent('views = "abc"')}`, 'DATA_ERR_FILTER_VALUE'],
        [`${base}?filter=${encodeURIComponent('nope = 1')}`, 'DATA_ERR_FILTER_FIELD'],
        [`${base}?filter=${'('.repeat(100)}`, 'DATA_ERR_FILTER_LIMIT'],
      ];
      for (const [path, code] of cases) {
        const res = await c.api('GET', path);
        expect(res.status, path).toBe(400);
        expect(res.body.code, path).toBe(code);
      }
    });

    it('batch: all or nothing, with the failing index', async () => {
      const before = (await c.api('GET', '/api/v1/collections/tags/records?total=true')).body.total;
      const failed = await c.api('POST', '/api/v1/batch', {
        operations: [
          { op: 'create', collection: 'tags', data: { label: 'one' } },
          { op: 'create', collection: 'tags', data: { label: 'two' } },
          { op: 'create', collection: 'tags', data: {} },
        ],
      });
      expect(failed.status).toBe(400);
      expect(failed.body).toMatchObject({ code: 'DATA_ERR_BATCH_FAILED', failedIndex: 2 });
      expect(failed.body.error.code).toBe('DATA_ERR_VALIDATION');
      expect((await c.api('GET', '/api/v1/collections/tags/records?total=true')).body.total).toBe(before);
      const ok = await c.api('POST', '/api/v1/batch', {
        operations: [
          { op: 'create', collection: 'tags', data: { label: 'three' } },
          { op: 'update', collection: 'posts', id: ids.post, data: { views: 9 } },
        ],
      });
      expect(ok.status).toBe(200);
      expect(ok.body.results.map((r: { status: number }) => r.status)).toEqual([201, 200]);
      const del = await c.api('POST', '/api/v1/batch', {
        operations: [{ op: 'delete', collection: 'tags', id: ok.body.results[0].body.id }],
      });
      expect(del.body.results).toEqual([{ status: 204 }]);
      expect((await c.api('POST', '/api/v1/batch', { operations: [] })).body.code).toBe(
        'DATA_ERR_BATCH_INVALID',
      );
    });

    it('changes a schema transactionally; a failing change leaves it as it was', async () => {
      const added = await c.api('PATCH', '/api/v1/collections/tags', {
        addFields: [{ name: 'color', type: 'text', default: 'red' }],
        addIndexes: [{ fields: ['label'], unique: true }],
      });
      expect(added.status, JSON.stringify(added.body)).toBe(200);
      const dup = await c.api('POST', '/api/v1/collections/tags/records', { label: 'db' });
      expect(dup.status).toBe(409);
      const before = await columns(c, 'tags');
      // Adding a unique index over duplicate values fails inside the transaction: nothing changes.
      await c.api('POST', '/api/v1/collections/tags/records', { label: 'z', color: 'blue' });
      await c.api('POST', '/api/v1/collections/tags/records', { label: 'y', color: 'blue' });
      const failing = await c.api('PATCH', '/api/v1/collections/tags', {
        renameFields: [{ from: 'label', to: 'title' }],
        addFields: [{ name: 'weight', type: 'number' }],
        addIndexes: [{ fields: ['color'], unique: true }],
      });
      expect(failing.status).toBe(409);
      expect(failing.body.code).toBe('DATA_ERR_SCHEMA_CONFLICT');
      expect(await columns(c, 'tags')).toEqual(before);
      expect(
        (await c.api('GET', '/api/v1/collections/tags')).body.fields.map((f: { name: string }) => f.name),
      ).toEqual(['label', 'color']);
      const renamed = await c.api('PATCH', '/api/v1/collections/tags', {
        renameFields: [{ from: 'color', to: 'colour' }],
      });
      expect(renamed.status).toBe(200);
      expect(await columns(c, 'tags')).toContain('colour');
      const dropBlocked = await c.api('PATCH', '/api/v1/collections/tags', { dropFields: ['label'] });
      expect(dropBlocked.status).toBe(409);
      expect((await c.api('DELETE', '/api/v1/collections/authors')).status).toBe(409);
    });

    it('on delete: cascade and set null write outbox events; restrict refuses', async () => {
      const author = (await c.api('POST', '/api/v1/collections/authors/records', { name: 'Del' })).body.id;
      const tag = (await c.api('POST', '/api/v1/collections/tags/records', { label: 'gone' })).body.id;
      const p1 = (
        await c.api('POST', '/api/v1/collections/posts/records', { title: 'c', author, tags: [tag, ids.tag] })
      ).body.id;
      const changes: string[] = [];
      const stop = c.gw.platform.data.outbox.subscribe((batch) => {
        for (const ch of batch) changes.push(`${ch.op} ${ch.collection}`);
      });
      expect((await c.api('DELETE', `/api/v1/collections/tags/records/${tag}`)).status).toBe(204);
      expect((await c.api('GET', `/api/v1/collections/posts/records/${p1}`)).body.tags).toEqual([ids.tag]);
      expect((await c.api('DELETE', `/api/v1/collections/authors/records/${author}`)).status).toBe(204);
      expect((await c.api('GET', `/api/v1/collections/posts/records/${p1}`)).status).toBe(404);
      stop();
      expect(changes).toEqual(['update posts', 'delete tags', 'delete posts', 'delete authors']);

      await c.api('POST', '/api/v1/collections', {
        name: 'pins',
        fields: [{ name: 'tag', type: 'relation', collection: 'tags', onDelete: 'restrict' }],
      });
      await c.api('POST', '/api/v1/collections/pins/records', { tag: ids.tag });
      const refused = await c.api('DELETE', `/api/v1/collections/tags/records/${ids.tag}`);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('DATA_ERR_REFERENCED');
    });
  });
}
