import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

/**
 * A create known in full beforehand (caller needs no row check, no relation value, no json field)
 * is ONE statement on PostgreSQL — the row and its outbox event together — and behaves exactly like
 * the transactional path: same record, ETag and event; a failure writes neither.
 */
for (const target of dataTargets()) {
  describe.runIf(target.available)(`one-statement create (${target.name})`, () => {
    let c: DataClient;
    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      const created = await c.api('POST', '/api/v1/collections', {
        name: 'things',
        fields: [
          { name: 'title', type: 'text', required: true, unique: true },
          { name: 'n', type: 'number', integer: true },
          { name: 'x', type: 'number' },
          { name: 'done', type: 'boolean', default: false },
          { name: 'at', type: 'datetime' },
          { name: 'kind', type: 'select', values: ['a', 'b'], multiple: true },
          { name: 'mail', type: 'email' },
        ],
        rules: { list: '', view: '', create: '', update: null, delete: null },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    });
    afterAll(() => c?.close());

    it('answers what a read returns, with the same ETag, and one outbox event with that record', async () => {
      const seen: string[] = [];
      const stop = c.gw.platform.database.observeQueries((q) => seen.push(q.sql));
      const events: unknown[] = [];
      const unsubscribe = c.gw.platform.data.outbox.subscribe((changes) => events.push(...changes));
      const body = {
        title: 'one',
        n: 42,
        x: 1.5,
        at: '2026-01-02T03:04:05+02:00',
        kind: ['b', 'a'],
        mail: 'A@Example.com',
      };
      const post = await c.api('POST', '/api/v1/collections/things/records', body);
      stop();
      unsubscribe();
      expect(post.status, JSON.stringify(post.body)).toBe(201);
      const get = await c.api('GET', `/api/v1/collections/things/records/${post.body.id}`);
      expect(post.body).toEqual(get.body);
      expect(post.headers.get('etag')).toBe(get.headers.get('etag'));
      expect(post.body).toMatchObject({
        n: 42,
        x: 1.5,
        done: false,
        at: '2026-01-02T01:04:05.000Z',
        kind: ['b', 'a'],
      });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ op: 'create', recordId: post.body.id, data: get.body, old: null });
      const writes = seen.filter((q) => !/^\s*select/i.test(q));
      if (target.name === 'postgres') {
        expect(writes).toHaveLength(1);
        expect(writes[0]).toMatch(/^\s*with rec as \(\s*insert into "things"/);
      } else {
        expect(writes.length).toBeGreaterThan(1); // the row and its outbox row, in one transaction
      }
      const [stored] = await c.gw.platform.data.outbox
        .read(0, 10_000)
        .then((all) => all.filter((e) => e.recordId === post.body.id));
      expect(stored?.data).toEqual(get.body);
    });

    it('a failing create (unique value) writes neither the row nor an event', async () => {
      const before = (await c.gw.platform.data.outbox.read(0, 10_000)).length;
      const first = await c.api('POST', '/api/v1/collections/things/records', { title: 'dup' });
      expect(first.status).toBe(201);
      const second = await c.api('POST', '/api/v1/collections/things/records', { title: 'dup' });
      expect(second.status).toBe(409);
      expect(second.body.code).toBe('DB_ERR_UNIQUE_VIOLATION');
      expect((await c.gw.platform.data.outbox.read(0, 10_000)).length).toBe(before + 1);
      const list = await c.api('GET', '/api/v1/collections/things/records?filter=title%20%3D%20%22dup%22');
      expect(list.body.items).toHaveLength(1);
    });

    it('invalid input is refused as on the transactional path', async () => {
      const bad = await c.api('POST', '/api/v1/collections/things/records', {
        title: 'v',
        n: 1.5,
        kind: ['z'],
      });
      expect(bad.status).toBe(400);
      expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['kind', 'n']);
    });
  });
}
