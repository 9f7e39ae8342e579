import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommittedChange } from '../../src/data/outbox/outbox.js';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

for (const target of dataTargets()) {
  describe.skipIf(!target.available)(`change outbox: ${target.name}`, () => {
    let c: DataClient;
    const published: CommittedChange[] = [];

    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      const res = await c.api('POST', '/api/v1/collections', {
        name: 'items',
        fields: [
          { name: 'label', type: 'text', required: true },
          { name: 'n', type: 'number', integer: true, default: 0 },
        ],
      });
      expect(res.status).toBe(201);
      c.gw.platform.data.outbox.subscribe((changes) => published.push(...changes));
    });
    afterAll(() => c?.close());

    it('holds every committed change and no rolled-back one, under concurrency, in commit order', async () => {
      // 60 concurrent batches: even ones commit two creates; odd ones create, then fail → rollback.
      const batches = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          c.api('POST', '/api/v1/batch', {
            operations: [
              { op: 'create', collection: 'items', data: { label: `b${i}-1` } },
              i % 2 === 0
                ? { op: 'create', collection: 'items', data: { label: `b${i}-2` } }
                : { op: 'create', collection: 'items', data: { n: 1 } },
            ],
          }),
        ),
      );
      expect(batches.map((b) => b.status)).toEqual(
        Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? 200 : 400)),
      );
      // Plus 50 concurrent updates of one record: each must appear once, in version order.
      const hot = (await c.api('POST', '/api/v1/collections/items/records', { label: 'hot' })).body.id;
      const updates = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          c.api('PATCH', `/api/v1/collections/items/records/${hot}`, { n: i + 1 }),
        ),
      );
      expect(updates.every((u) => u.status === 200)).toBe(true);

      const rows = await c.gw.platform.database.kysely.selectFrom('items').select(['id', 'label']).execute();
      const events = await c.gw.platform.data.outbox.read(0, 100_000);
      const creates = events.filter((e) => e.op === 'create' && e.collection === 'items');
      expect(creates.map((e) => e.recordId).sort()).toEqual(rows.map((r) => String(r.id)).sort());
      expect(
        creates.some(
          (e) => String(e.data?.label).endsWith('-1') && Number(String(e.data?.label).slice(1, -2)) % 2 === 1,
        ),
      ).toBe(false);
      const seqs = events.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      // Commit order: the hot record's versions rise with seq, and its final value is the last event's.
      const hotUpdates = events.filter((e) => e.recordId === hot && e.op === 'update');
      expect(hotUpdates).toHaveLength(50);
      const versions = hotUpdates.map((e) => Date.parse(String(e.data?.updated)));
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      const final = (await c.api('GET', `/api/v1/collections/items/records/${hot}`)).body.n;
      expect(hotUpdates.at(-1)?.data?.n).toBe(final);
      for (let i = 1; i < hotUpdates.length; i++)
        expect(hotUpdates[i]?.old?.n).toBe(hotUpdates[i - 1]?.data?.n);
      // Listeners heard exactly what committed.
      expect(published.map((e) => e.seq).sort((a, b) => a - b)).toEqual(seqs);
    });
  });
}
