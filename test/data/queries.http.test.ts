import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

for (const target of dataTargets()) {
  describe.skipIf(!target.available)(`record queries over HTTP: ${target.name}`, () => {
    let c: DataClient;

    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      await c.api('POST', '/api/v1/collections', { name: 'orgs', fields: [{ name: 'name', type: 'text' }] });
      await c.api('POST', '/api/v1/collections', {
        name: 'people',
        fields: [
          { name: 'name', type: 'text' },
          { name: 'org', type: 'relation', collection: 'orgs' },
        ],
      });
      await c.api('POST', '/api/v1/collections', {
        name: 'labels',
        fields: [{ name: 'label', type: 'text' }],
      });
      await c.api('POST', '/api/v1/collections', {
        name: 'notes',
        fields: [
          { name: 'body', type: 'text' },
          { name: 'n', type: 'number', integer: true },
          { name: 'owner', type: 'relation', collection: 'people' },
          { name: 'labels', type: 'relation', collection: 'labels', multiple: true },
          { name: 'meta', type: 'json' },
        ],
      });
      const orgs: string[] = [];
      for (let i = 0; i < 5; i++)
        orgs.push((await c.api('POST', '/api/v1/collections/orgs/records', { name: `org${i}` })).body.id);
      const people: string[] = [];
      for (let i = 0; i < 20; i++)
        people.push(
          (await c.api('POST', '/api/v1/collections/people/records', { name: `p${i}`, org: orgs[i % 5] }))
            .body.id,
        );
      const labels: string[] = [];
      for (let i = 0; i < 10; i++)
        labels.push((await c.api('POST', '/api/v1/collections/labels/records', { label: `l${i}` })).body.id);
      const operations = Array.from({ length: 100 }, (_, i) => ({
        op: 'create',
        collection: 'notes',
        data: {
          body: `note ${i}`,
          n: i,
          owner: people[i % 20],
          labels: [labels[i % 10], labels[(i + 3) % 10]],
          meta: i % 2 ? { k: i } : 'text',
        },
      }));
      expect((await c.api('POST', '/api/v1/batch', { operations })).status).toBe(200);
    });
    afterAll(() => c?.close());

    async function countQueries(path: string): Promise<{ queries: number; items: number }> {
      const seen: string[] = [];
      const stop = c.gw.platform.database.observeQueries((q) => {
        if (!q.sql.includes('_gw_')) seen.push(q.sql);
      });
      const res = await c.api('GET', path);
      stop();
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return { queries: seen.length, items: res.body.items.length };
    }

    it('expands 100 records (single, multi and nested relations) in a constant number of queries', async () => {
      const expand = 'expand=owner,labels,owner.org';
      const ten = await countQueries(`/api/v1/collections/notes/records?limit=10&${expand}`);
      const hundred = await countQueries(`/api/v1/collections/notes/records?limit=100&${expand}`);
      expect(ten.items).toBe(10);
      expect(hundred.items).toBe(100);
      // 1 list query + 1 per expanded path (owner, owner.org, labels).
      expect(hundred.queries).toBe(4);
      expect(ten.queries).toBe(hundred.queries);
      const page = await c.api('GET', `/api/v1/collections/notes/records?limit=100&${expand}`);
      for (const note of page.body.items) {
        expect(note.expand.owner.id).toBe(note.owner);
        expect(note.expand.owner.expand.org.id).toBe(note.expand.owner.org);
        expect(note.expand.labels.map((l: { id: string }) => l.id)).toEqual(note.labels);
      }
    });

    it('filters through relations and json paths on both dialects', async () => {
      const q = async (filter: string) =>
        (
          await c.api(
            'GET',
            `/api/v1/collections/notes/records?limit=500&filter=${encodeURIComponent(filter)}`,
          )
        ).body.items.length;
      expect(await q('owner.name = "p3"')).toBe(5);
      expect(await q('labels.label = "l0"')).toBe(20);
      expect(await q('meta.k > 90')).toBe(5);
      expect(await q('n in (1, 2, 3) || body ~ "note 9"')).toBe(14);
      // Relation paths go one level deep; deeper is a clear 400.
      const deep = await c.api(
        'GET',
        `/api/v1/collections/notes/records?filter=${encodeURIComponent('owner.org.name = "org1"')}`,
      );
      expect(deep.status).toBe(400);
      expect(deep.body.code).toMatch(/^DATA_ERR_FILTER_/);
    });

    it("a caller's filter cannot probe related records they may not view", async () => {
      await c.api('POST', '/api/v1/collections', { name: 'vault', fields: [{ name: 'code', type: 'text' }] });
      await c.api('POST', '/api/v1/collections', {
        name: 'cards',
        fields: [
          { name: 'vault', type: 'relation', collection: 'vault' },
          { name: 'owner', type: 'relation', collection: 'people' },
        ],
        rules: { list: '', view: '' },
      });
      await c.api('PATCH', '/api/v1/collections/people', { rules: { view: 'name != "p0"' } });
      const secret = (await c.api('POST', '/api/v1/collections/vault/records', { code: 'hunter2' })).body.id;
      const people = (await c.api('GET', '/api/v1/collections/people/records?sort=name&limit=2')).body.items;
      await c.api('POST', '/api/v1/collections/cards/records', { vault: secret, owner: people[0].id });
      await c.api('POST', '/api/v1/collections/cards/records', { vault: secret, owner: people[1].id });
      const anon = async (filter: string) =>
        (
          await c.api(
            'GET',
            `/api/v1/collections/cards/records?filter=${encodeURIComponent(filter)}`,
            undefined,
            { auth: false },
          )
        ).body.items.length;
      const admin = async (filter: string) =>
        (await c.api('GET', `/api/v1/collections/cards/records?filter=${encodeURIComponent(filter)}`)).body
          .items.length;
      expect(await admin('vault.code = "hunter2"')).toBe(2);
      expect(await anon('vault.code = "hunter2"')).toBe(0); // vault is admin-only
      expect(await anon('vault.code ~ "h"')).toBe(0);
      expect(await admin('owner.name = "p0"')).toBe(1);
      expect(await anon('owner.name = "p0"')).toBe(0); // p0 is hidden by people's view rule
      expect(await anon('owner.name = "p1"')).toBe(1);
    });

    it('arbitrary filter and sort strings never cause a 500', async () => {
      const fragments = fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.constantFrom(
          "'; DROP TABLE notes; --",
          '/* */',
          '" OR 1=1',
          '\u0000',
          '1e400',
          'n = 1)',
          '((((',
          'meta.k.x.y = null',
          '@auth.id = owner',
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(fragments, { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          async (parts, asSort) => {
            const text = parts.join(' ');
            const param = asSort ? 'sort' : 'filter';
            const res = await c.api(
              'GET',
              `/api/v1/collections/notes/records?${param}=${encodeURIComponent(text)}`,
            );
            expect([200, 400]).toContain(res.status);
            if (res.status === 400) expect(res.body.code).toMatch(/^DATA_ERR_/);
          },
        ),
        { numRuns: 150 },
      );
      const count = await c.gw.platform.database.kysely
        .selectFrom('notes')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(100);
    });
  });
}
