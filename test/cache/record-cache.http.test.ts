import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../src/auth/api-keys.js';
import type { MemoryCacheStore } from '../../src/cache/drivers/memory-cache-store.js';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

/**
 * Caching of record reads over HTTP, on SQLite and PostgreSQL, one node: per-user rules never
 * leak a cached result to another caller (rules, caller filters and expanded relations that read
 * `@auth`, API-key scopes), collection `cache` settings are stored and changed like the rest of a
 * definition, write-through, `maxEntries`, time-dependent rules, HTTP caching headers and
 * conditional requests, and the metrics on /metrics.
 */
const PASSWORD = 'correct horse battery';

for (const target of dataTargets()) {
  describe.runIf(target.available)(`record cache over HTTP (${target.name})`, () => {
    let c: DataClient;
    const users: Record<string, { id: string; token: string }> = {};
    const as = (name: string) => ({
      auth: false,
      headers: { authorization: `Bearer ${users[name]!.token}` },
    });
    const anon = { auth: false } as const;
    const hits = (scope: string) => scoped(c, 'hits', scope);
    const misses = (scope: string) => scoped(c, 'misses', scope);

    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      const defs = [
        {
          name: 'users',
          type: 'auth',
          fields: [{ name: 'nick', type: 'text' }],
          rules: { list: 'id = @auth.id', view: 'id = @auth.id', create: '', update: null, delete: null },
          cache: {},
        },
        {
          name: 'notes',
          fields: [
            { name: 'title', type: 'text' },
            { name: 'owner', type: 'relation', collection: 'users', required: true },
          ],
          rules: {
            list: 'owner = @auth.id',
            view: 'owner = @auth.id',
            create: 'owner = @auth.id',
            update: 'owner = @auth.id',
            delete: null,
          },
          cache: { ttlMs: 600_000 },
        },
        {
          name: 'posts',
          fields: [
            { name: 'title', type: 'text' },
            { name: 'author', type: 'relation', collection: 'users' },
          ],
          rules: { list: '', view: '', create: '', update: null, delete: null },
          cache: { ttlMs: 600_000, httpCache: { visibility: 'public', maxAgeS: 60 } },
        },
      ];
      for (const def of defs) {
        const res = await c.api('POST', '/api/v1/collections', def);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      for (const name of ['ann', 'bob', 'cyd']) {
        const email = `${name}@example.com`;
        const up = await c.api(
          'POST',
          '/api/v1/collections/users/auth/sign-up',
          { email, password: PASSWORD, nick: name },
          anon,
        );
        expect(up.status).toBe(202);
        const signIn = await c.api(
          'POST',
          '/api/v1/collections/users/auth/sign-in',
          { email, password: PASSWORD },
          anon,
        );
        expect(signIn.status).toBe(200);
        users[name] = { id: signIn.body.user.id, token: signIn.body.access_token };
      }
    });
    afterAll(() => c?.close());

    it('a cached list never reaches a user whose rule denies its records', async () => {
      for (const [owner, titles] of [
        ['ann', ['a1', 'a2']],
        ['bob', ['b1']],
      ] as const) {
        for (const title of titles) {
          const res = await c.api(
            'POST',
            '/api/v1/collections/notes/records',
            { title, owner: users[owner]!.id },
            as(owner),
          );
          expect(res.status).toBe(201);
        }
      }
      const list = '/api/v1/collections/notes/records?sort=title';
      const titles = (res: { body: { items: { title: string }[] } }) => res.body.items.map((n) => n.title);
      const h0 = hits('notes');
      expect(titles(await c.api('GET', list, undefined, as('ann')))).toEqual(['a1', 'a2']);
      expect(titles(await c.api('GET', list, undefined, as('ann')))).toEqual(['a1', 'a2']);
      // Ann's second read was a hit: the cache was in the path for everyone below.
      expect(hits('notes')).toBe(h0 + 1);
      expect(titles(await c.api('GET', list, undefined, as('bob')))).toEqual(['b1']);
      expect(titles(await c.api('GET', list, undefined, as('cyd')))).toEqual([]);
      expect(titles(await c.api('GET', list, undefined, anon))).toEqual([]);
      // Each again (hits by now), still their own.
      expect(titles(await c.api('GET', list, undefined, as('bob')))).toEqual(['b1']);
      expect(titles(await c.api('GET', list, undefined, as('cyd')))).toEqual([]);
      expect(hits('notes')).toBe(h0 + 3);
      // By id: cached for ann, not found for bob.
      const a1 = (await c.api('GET', list, undefined, as('ann'))).body.items[0].id;
      expect(
        (await c.api('GET', `/api/v1/collections/notes/records/${a1}`, undefined, as('ann'))).status,
      ).toBe(200);
      expect(
        (await c.api('GET', `/api/v1/collections/notes/records/${a1}`, undefined, as('bob'))).status,
      ).toBe(404);
      // An admin bypasses rules, in its own key space.
      expect(titles(await c.api('GET', list))).toEqual(['a1', 'a2', 'b1']);
      // A write by ann is seen by ann at once, and still not by bob.
      await c.api('PATCH', `/api/v1/collections/notes/records/${a1}`, { title: 'a0' }, as('ann'));
      expect(titles(await c.api('GET', list, undefined, as('ann')))).toEqual(['a0', 'a2']);
      expect(titles(await c.api('GET', list, undefined, as('bob')))).toEqual(['b1']);
    });

    it('a filter with @auth and an expanded relation with an @auth rule are cached per caller', async () => {
      for (const owner of ['ann', 'bob']) {
        const res = await c.api(
          'POST',
          '/api/v1/collections/posts/records',
          { title: `by ${owner}`, author: users[owner]!.id },
          as(owner),
        );
        expect(res.status).toBe(201);
      }
      // The posts rules are public, but the filter reads @auth.id: ann and bob must not share.
      const mine = `/api/v1/collections/posts/records?filter=${encodeURIComponent('author = @auth.id')}`;
      for (const owner of ['ann', 'bob', 'ann', 'bob']) {
        const res = await c.api('GET', mine, undefined, as(owner));
        expect(res.body.items.map((p: { title: string }) => p.title)).toEqual([`by ${owner}`]);
      }
      // expand=author: users may view only themselves, so each sees only their own author record.
      const expanded = '/api/v1/collections/posts/records?sort=title&expand=author';
      for (const viewer of ['ann', 'bob', 'ann', 'bob']) {
        const res = await c.api('GET', expanded, undefined, as(viewer));
        expect(res.status).toBe(200);
        const authors = res.body.items.map(
          (p: { expand: { author?: { nick: string } } }) => p.expand.author?.nick ?? null,
        );
        expect(authors).toEqual(viewer === 'ann' ? ['ann', null] : [null, 'bob']);
      }
      const anonymous = await c.api('GET', expanded, undefined, anon);
      expect(anonymous.body.items.map((p: { expand: object }) => p.expand)).toEqual([{}, {}]);
      // A change of the expanded collection reaches the cached expansion.
      const renamed = await c.api('PATCH', `/api/v1/collections/users/records/${users.ann!.id}`, {
        nick: 'anna',
      });
      expect(renamed.status).toBe(200);
      const after = await c.api('GET', expanded, undefined, as('ann'));
      expect(after.body.items[0].expand.author.nick).toBe('anna');
    });

    it('API-key scopes split the key space: a key without users:view never gets a cached expansion', async () => {
      const { key: full } = await new ApiKeys(c.gw.platform.database).create({ name: 'full', role: 'admin' });
      const { key: scoped } = await new ApiKeys(c.gw.platform.database).create({
        name: 'posts only',
        role: 'admin',
        scopes: ['posts:list'],
      });
      const expanded = '/api/v1/collections/posts/records?sort=title&expand=author';
      const bearer = (key: string) => ({ auth: false, headers: { authorization: `Bearer ${key}` } });
      for (let i = 0; i < 2; i++) {
        const fullRes = await c.api('GET', expanded, undefined, bearer(full));
        expect(fullRes.body.items.every((p: { expand: { author?: object } }) => p.expand.author)).toBe(true);
        const scopedRes = await c.api('GET', expanded, undefined, bearer(scoped));
        expect(scopedRes.status).toBe(200);
        expect(scopedRes.body.items.map((p: { expand: object }) => p.expand)).toEqual([{}, {}]);
      }
    });

    it('stores, shows, changes and reloads the cache settings; refuses public HTTP caching of protected data', async () => {
      const created = await c.api('POST', '/api/v1/collections', {
        name: 'settings_demo',
        fields: [{ name: 'x', type: 'text' }],
        rules: { list: '', view: '', create: null, update: null, delete: null },
        cache: { ttlMs: 5_000, maxEntries: 10 },
      });
      expect(created.status).toBe(201);
      expect(created.body.cache).toEqual({
        enabled: true,
        ttlMs: 5_000,
        maxEntries: 10,
        consistency: 'strong',
        writeThrough: false,
      });
      const patched = await c.api('PATCH', '/api/v1/collections/settings_demo', {
        cache: { consistency: 'eventual', maxEntries: null, httpCache: { maxAgeS: 30 } },
      });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      const expected = {
        enabled: true,
        ttlMs: 5_000,
        consistency: 'eventual',
        writeThrough: false,
        httpCache: { visibility: 'private', maxAgeS: 30 },
      };
      expect(patched.body.cache).toEqual(expected);
      // Written to _gw_collections and read back.
      await c.gw.platform.data.registry.reload();
      expect((await c.api('GET', '/api/v1/collections/settings_demo')).body.cache).toEqual(expected);
      const removed = await c.api('PATCH', '/api/v1/collections/settings_demo', { cache: null });
      expect(removed.body.cache).toBeUndefined();
      const refused = await c.api('PATCH', '/api/v1/collections/notes', {
        cache: { httpCache: { visibility: 'public', maxAgeS: 60 } },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0]).toMatchObject({
        path: 'cache.httpCache.visibility',
        code: 'public_protected',
      });
      const bad = await c.api('PATCH', '/api/v1/collections/notes', { cache: { ttlMs: 0 } });
      expect(bad.status).toBe(400);
    });

    it('HTTP caching: Cache-Control per collection, Vary, Last-Modified and If-Modified-Since', async () => {
      const note = (await c.api('GET', '/api/v1/collections/notes/records', undefined, as('bob'))).body
        .items[0];
      const notePath = `/api/v1/collections/notes/records/${note.id}`;
      const first = await c.api('GET', notePath, undefined, as('bob'));
      expect(first.headers.get('cache-control')).toBe('no-store');
      expect(first.headers.get('vary')).toBe('Authorization, Cookie');
      const lastModified = first.headers.get('last-modified') ?? '';
      expect(lastModified).toBe(new Date(note.updated).toUTCString());
      const conditional = (headers: Record<string, string>) =>
        c.api('GET', notePath, undefined, { auth: false, headers: { ...as('bob').headers, ...headers } });
      const notModified = await conditional({ 'if-modified-since': lastModified });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.get('etag')).toBe(first.headers.get('etag'));
      expect(notModified.headers.get('cache-control')).toBe('no-store');
      const earlier = new Date(Date.parse(note.updated) - 2_000).toUTCString();
      expect((await conditional({ 'if-modified-since': earlier })).status).toBe(200);
      // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
      expect(
        (await conditional({ 'if-none-match': '"0-x"', 'if-modified-since': lastModified })).status,
      ).toBe(200);
      expect((await conditional({ 'if-modified-since': 'not a date' })).status).toBe(200);

      const post = (await c.api('GET', '/api/v1/collections/posts/records?sort=title', undefined, anon)).body
        .items[0];
      const postPath = `/api/v1/collections/posts/records/${post.id}`;
      expect((await c.api('GET', postPath, undefined, anon)).headers.get('cache-control')).toBe(
        'public, max-age=60',
      );
      expect((await c.api('GET', postPath)).headers.get('cache-control')).toBe('private, max-age=60');
      // Expanding a protected relation makes it private, and the record's validators do not apply.
      const expanded = await c.api('GET', `${postPath}?expand=author`, undefined, anon);
      expect(expanded.headers.get('cache-control')).toBe('private, max-age=60');
      expect(expanded.headers.get('last-modified')).toBeNull();
      const etag = expanded.headers.get('etag') ?? '';
      expect(etag).not.toBe('');
      const again = await c.api('GET', `${postPath}?expand=author`, undefined, {
        auth: false,
        headers: { 'if-none-match': etag },
      });
      expect(again.status).toBe(200);
      // A public collection without httpCache: revalidate every time.
      const demo = await c.api('POST', '/api/v1/collections', {
        name: 'open_demo',
        fields: [{ name: 'x', type: 'text' }],
        rules: { list: '', view: '', create: null, update: null, delete: null },
      });
      expect(demo.status).toBe(201);
      const list = await c.api('GET', '/api/v1/collections/open_demo/records', undefined, anon);
      expect(list.headers.get('cache-control')).toBe('no-cache');
      expect(list.headers.get('vary')).toBe('Authorization, Cookie');
    });

    it('write-through: the read after a write is a hit with the new value; maxEntries bounds a collection', async () => {
      const res = await c.api('POST', '/api/v1/collections', {
        name: 'through',
        fields: [{ name: 'x', type: 'text' }],
        rules: { list: '', view: '', create: null, update: null, delete: null },
        cache: { writeThrough: true, maxEntries: 3 },
      });
      expect(res.status).toBe(201);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await c.api('POST', '/api/v1/collections/through/records', { x: `v${i}` })).body.id);
      const h0 = hits('through');
      const m0 = misses('through');
      // Created records were written through for admins and (rule "") for everyone.
      expect((await c.api('GET', `/api/v1/collections/through/records/${ids[4]}`)).body.x).toBe('v4');
      expect(
        (await c.api('GET', `/api/v1/collections/through/records/${ids[4]}`, undefined, anon)).body.x,
      ).toBe('v4');
      expect([hits('through') - h0, misses('through') - m0]).toEqual([2, 0]);
      const updated = await c.api('PATCH', `/api/v1/collections/through/records/${ids[4]}`, { x: 'new' });
      expect(updated.status).toBe(200);
      const read = await c.api('GET', `/api/v1/collections/through/records/${ids[4]}`, undefined, anon);
      expect(read.body.x).toBe('new');
      expect(read.headers.get('etag')).toBe(updated.headers.get('etag'));
      expect([hits('through') - h0, misses('through') - m0]).toEqual([3, 0]);
      // Without write-through (notes), the read after a write loads.
      const store = c.gw.platform.cache.store as MemoryCacheStore;
      for (const id of ids) await c.api('GET', `/api/v1/collections/through/records/${id}`, undefined, anon);
      expect(store.keys().filter((key) => key.startsWith('r1:through:')).length).toBeLessThanOrEqual(3);
    });

    it('rules with @now are never cached; /metrics has the cache per collection', async () => {
      const res = await c.api('POST', '/api/v1/collections', {
        name: 'timed',
        fields: [{ name: 'until', type: 'datetime' }],
        rules: { list: 'until > @now', view: 'until > @now', create: null, update: null, delete: null },
        cache: {},
      });
      expect(res.status).toBe(201);
      await c.api('POST', '/api/v1/collections/timed/records', {
        until: new Date(Date.now() + 3_600_000).toISOString(),
      });
      const h0 = hits('timed');
      for (let i = 0; i < 3; i++) {
        expect(
          (await c.api('GET', '/api/v1/collections/timed/records', undefined, anon)).body.items,
        ).toHaveLength(1);
      }
      expect(hits('timed')).toBe(h0);
      const metrics = await fetch(`${c.gw.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/cache_hits_total\{cache="records",scope="notes"\} [1-9]/);
      expect(metrics).toMatch(/cache_misses_total\{cache="records",scope="posts"\} [1-9]/);
      expect(metrics).toMatch(/cache_entries\{cache="records"\} [1-9]/);
      expect(metrics).toMatch(/data_cache_invalidations_total\{collection="notes",source="write"\} [1-9]/);
      expect(metrics).toMatch(/data_cache_bypass_total\{collection="timed",reason="time"\} 3/);
    });
  });
}

/** A `cache_<what>_total{cache="records",scope}` counter from the platform's registry. */
function scoped(c: DataClient, what: 'hits' | 'misses', scope: string): number {
  const metric = c.gw.platform.metrics.registry.getSingleMetric(`cache_${what}_total`) as unknown as {
    hashMap: Record<string, { labels: Record<string, string>; value: number }>;
  };
  return (
    Object.values(metric.hashMap).find((v) => v.labels.cache === 'records' && v.labels.scope === scope)
      ?.value ?? 0
  );
}
