import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectionDef } from '../../src/data/collections/collection.js';
import type { GroupCommit } from '../../src/data/outbox/group-commit.js';
import { type CommittedChange, PG_OUTBOX_LOCK, type RowWrite } from '../../src/data/outbox/outbox.js';
import type { Principal } from '../../src/gateway/principal.js';
import { waitFor } from '../harness/engines.js';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

/**
 * Group commit of blind creates (src/data/outbox/group-commit.ts): creates submitted together are
 * written in ONE transaction (one statement on PostgreSQL), nothing is acknowledged before that
 * commit, a row that fails gets its own error while the others of its batch succeed, and outbox
 * seqs follow submission order within a batch and commit order across batches.
 */
const ADMIN: Principal = { kind: 'admin', id: 'test-admin' };

for (const target of dataTargets()) {
  describe.runIf(target.available)(`group commit (${target.name})`, () => {
    let c: DataClient;
    let dbUrl: string;
    let group: GroupCommit;
    let def: CollectionDef;
    let n = 0;

    beforeAll(async () => {
      dbUrl = await target.url();
      c = await startDataPlatform(dbUrl);
      group = c.gw.platform.data.groupCommit;
      const created = await c.api('POST', '/api/v1/collections', {
        name: 'things',
        fields: [
          { name: 'title', type: 'text', required: true, unique: true },
          { name: 'n', type: 'number', integer: true },
        ],
        rules: { list: '', view: '', create: '', update: null, delete: null },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      def = c.gw.platform.data.registry.require('things');
    });
    afterAll(() => c?.close());

    /**
     * SQLite: rows titled `prefix…` that another connection sees now (committed ones), read
     * synchronously — so it can run inside a statement observer, between two statements of a batch.
     */
    const committedNow = (prefix: string): number => {
      const reader = new BetterSqlite3(dbUrl.replace(/^sqlite:\/\//, ''), { readonly: true });
      try {
        const row = reader
          .prepare('select count(*) as n from things where substr(title, 1, ?) = ?')
          .get(prefix.length, prefix) as { n: number };
        return row.n;
      } finally {
        reader.close();
      }
    };

    /** A blind create of `things`, as the records route prepares it. */
    const prepare = (body: Record<string, unknown>): RowWrite => {
      const blind = c.gw.platform.data.writer.prepareBlindCreate(def, { n: n++, ...body }, ADMIN);
      if (!blind) throw new Error('expected a blind create');
      return { table: def.name, row: blind.row, event: blind.event };
    };

    const visible = async (ids: readonly string[]) =>
      (
        await c.gw.platform.database.kysely
          .selectFrom('things')
          .select('id')
          .where('id', 'in', ids as string[])
          .execute()
      ).length;

    it('writes creates submitted together in one transaction, seqs in submission order', async () => {
      const writes = Array.from({ length: 20 }, (_, i) => prepare({ title: `together ${i}` }));
      const batchesBefore = group.batches;
      const seenByOthers: number[] = [];
      const seen: string[] = [];
      const stop = c.gw.platform.database.observeQueries((q) => {
        const text = q.sql.trim().toLowerCase();
        seen.push(text);
        if (target.name === 'sqlite' && text.startsWith('insert into'))
          seenByOthers.push(committedNow('together '));
      });
      const changes = await Promise.all(writes.map((w) => group.submit(w))).finally(stop);
      expect(group.batches - batchesBefore).toBe(1);
      if (target.name === 'postgres') {
        // One autocommit statement: every row and its outbox row, or none.
        expect(seen).toHaveLength(1);
        expect(seen[0]).toMatch(/^with rec as \(insert into "things"/);
      } else {
        // Multi-row inserts (20 rows = 16 + 4), none visible to another connection until the commit.
        expect(seen.filter((s) => s.startsWith('insert into "things"'))).toHaveLength(2);
        expect(seen.filter((s) => s.startsWith('insert into "_gw_outbox"'))).toHaveLength(2);
        expect(seenByOthers).toEqual([0, 0, 0, 0]);
        expect(committedNow('together ')).toBe(20);
      }
      expect(changes.map((ch) => ch.recordId)).toEqual(writes.map((w) => w.event.recordId));
      const seqs = changes.map((ch) => ch.seq);
      expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => (seqs[0] as number) + i));
      const stored = (await c.gw.platform.data.outbox.read((seqs[0] as number) - 1, 20)).map(
        (e) => e.recordId,
      );
      expect(stored).toEqual(writes.map((w) => w.event.recordId));
      expect(await visible(stored)).toBe(20);
    });

    it('writes creates of several collections together, seqs still in submission order', async () => {
      const other = await c.api('POST', '/api/v1/collections', {
        name: 'others',
        fields: [{ name: 'label', type: 'text' }],
        rules: { list: '', view: '', create: '', update: null, delete: null },
      });
      expect(other.status, JSON.stringify(other.body)).toBe(201);
      const othersDef = c.gw.platform.data.registry.require('others');
      const writes = Array.from({ length: 6 }, (_, i) => {
        if (i % 2 === 0) return prepare({ title: `mixed ${i}` });
        const blind = c.gw.platform.data.writer.prepareBlindCreate(othersDef, { label: `l${i}` }, ADMIN);
        if (!blind) throw new Error('expected a blind create');
        return { table: 'others', row: blind.row, event: blind.event };
      });
      const batchesBefore = group.batches;
      const changes = await Promise.all(writes.map((w) => group.submit(w)));
      expect(group.batches - batchesBefore).toBe(1);
      expect(changes.map((ch) => ch.collection)).toEqual([
        'things',
        'others',
        'things',
        'others',
        'things',
        'others',
      ]);
      const seqs = changes.map((ch) => ch.seq);
      expect(seqs).toEqual(Array.from({ length: 6 }, (_, i) => (seqs[0] as number) + i));
      const stored = await c.gw.platform.data.outbox.read((seqs[0] as number) - 1, 6);
      expect(stored.map((e) => e.recordId)).toEqual(writes.map((w) => w.event.recordId));
      for (const [i, w] of writes.entries()) {
        const read = await c.api('GET', `/api/v1/collections/${w.table}/records/${w.event.recordId}`);
        expect(read.status).toBe(200);
        expect(read.body).toEqual(stored[i]?.data);
      }
    });

    it('acknowledges no write before the commit that holds it', async () => {
      const order: string[] = [];
      const stop = c.gw.platform.database.observeQueries((q) => {
        // A statement is observed once it has run: on PostgreSQL the autocommit statement is the commit.
        if (q.sql.trim().startsWith('with rec as')) order.push('committed');
      });
      const writes = Array.from({ length: 5 }, (_, i) => prepare({ title: `ack ${i}` }));
      await Promise.all(
        writes.map((w, i) =>
          group.submit(w).then(() => {
            // SQLite: at its acknowledgement, every row of the batch is visible to another connection.
            if (target.name === 'sqlite' && committedNow('ack ') === 5) order.push('committed');
            order.push(`ack ${i}`);
          }),
        ),
      ).finally(stop);
      if (target.name === 'postgres') {
        expect(order).toEqual(['committed', 'ack 0', 'ack 1', 'ack 2', 'ack 3', 'ack 4']);
      } else {
        expect(order).toEqual(['ack 0', 'ack 1', 'ack 2', 'ack 3', 'ack 4'].flatMap((a) => ['committed', a]));
      }
    });

    it('gives a failing row its own error while the other writes of its batch commit', async () => {
      const taken = await c.api('POST', '/api/v1/collections/things/records', { title: 'taken' });
      expect(taken.status).toBe(201);
      const writes = [
        prepare({ title: 'fine 0' }),
        prepare({ title: 'taken' }), // unique value already stored
        prepare({ title: 'fine 1' }),
        prepare({ title: 'twice' }),
        prepare({ title: 'twice' }), // the same value as the row before it, in the same batch
        prepare({ title: 'fine 2' }),
      ];
      const published: CommittedChange[] = [];
      const unsubscribe = c.gw.platform.data.outbox.subscribe((ch) => published.push(...ch));
      const before = await c.gw.platform.data.outbox.read(0, 100_000);
      const results = await Promise.allSettled(writes.map((w) => group.submit(w)));
      unsubscribe();
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
        'rejected',
        'fulfilled',
      ]);
      for (const i of [1, 4]) {
        expect((results[i] as PromiseRejectedResult).reason).toMatchObject({
          code: 'DB_ERR_UNIQUE_VIOLATION',
        });
      }
      const ok = [0, 2, 3, 5].map((i) => writes[i]?.event.recordId as string);
      expect(await visible(writes.map((w) => w.event.recordId))).toBe(4);
      expect(await visible(ok)).toBe(4);
      const after = await c.gw.platform.data.outbox.read(before.at(-1)?.seq ?? 0, 100_000);
      expect(after.map((e) => e.recordId)).toEqual(ok);
      const seqs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.seq] : []));
      expect(seqs).toEqual(after.map((e) => e.seq));
      // GroupCommit itself publishes nothing: the route publishes each committed change.
      expect(published).toEqual([]);
    });

    it('answers concurrent HTTP creates exactly as alone: 201 with the stored record, or 409', async () => {
      const bodies = Array.from({ length: 40 }, (_, i) => ({ title: i % 10 === 9 ? 'dup' : `http ${i}` }));
      const published: CommittedChange[] = [];
      const unsubscribe = c.gw.platform.data.outbox.subscribe((ch) => published.push(...ch));
      const answers = await Promise.all(
        bodies.map((b) => c.api('POST', '/api/v1/collections/things/records', b)),
      );
      unsubscribe();
      const dups = answers.filter((_, i) => i % 10 === 9);
      expect(dups.filter((a) => a.status === 201)).toHaveLength(1);
      expect(dups.filter((a) => a.status === 409).map((a) => a.body.code)).toEqual(
        Array(3).fill('DB_ERR_UNIQUE_VIOLATION'),
      );
      const created = answers.filter((a) => a.status === 201);
      expect(created).toHaveLength(37);
      for (const answer of created.slice(0, 5)) {
        const read = await c.api('GET', `/api/v1/collections/things/records/${answer.body.id}`);
        expect(read.body).toEqual(answer.body);
        expect(read.headers.get('etag')).toBe(answer.headers.get('etag'));
      }
      // One event per created record, published once, with seqs unique and in outbox order.
      expect(published.map((e) => e.recordId).sort()).toEqual(created.map((a) => a.body.id).sort());
      const events = await c.gw.platform.data.outbox.read(0, 100_000);
      const seqs = events.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      for (const e of published) expect(events.find((x) => x.seq === e.seq)?.recordId).toBe(e.recordId);
    });

    // PostgreSQL only: a batch can be held in flight (behind a lock another session holds) without
    // blocking this process, which SQLite's synchronous driver would.
    if (target.name === 'postgres')
      it('queues creates while a batch waits, answers none before its commit, then writes them together', async () => {
        const holder = new pg.Client({ connectionString: dbUrl });
        await holder.connect();
        const seen: string[] = [];
        const stop = c.gw.platform.database.observeQueries((q) => seen.push(q.sql));
        try {
          // Another transaction holds the outbox's commit-order lock: every batch statement waits on it.
          await holder.query('begin');
          await holder.query('select pg_advisory_xact_lock($1::bigint)', [PG_OUTBOX_LOCK]);
          let answered = 0;
          const post = (i: number) =>
            c.api('POST', '/api/v1/collections/things/records', { title: `held ${i}` }).then((a) => {
              answered++;
              return a;
            });
          const first = post(0);
          await waitFor(async () => (await lockWaiters(holder)) === 1, {
            timeoutMs: 10_000,
            what: 'the first batch to wait for the lock',
          });
          const rest = Array.from({ length: 29 }, (_, i) => post(i + 1));
          await waitFor(() => group.pending === 30, { timeoutMs: 10_000, what: '30 creates pending' });
          expect(answered).toBe(0);
          const unseen = await holder.query(
            `select count(*)::int as n from things where title like 'held %'`,
          );
          expect(unseen.rows[0].n).toBe(0);
          await holder.query('commit');
          const answers = await Promise.all([first, ...rest]);
          expect(answers.map((a) => a.status)).toEqual(Array(30).fill(201));
          // Batch 1 (the first create), then the 29 that queued while it waited, together.
          const batches = seen.filter((s) => s.includes('insert into "_gw_outbox"'));
          expect(batches).toHaveLength(2);
          const stored = await holder.query(
            `select count(*)::int as n from things where title like 'held %'`,
          );
          expect(stored.rows[0].n).toBe(30);
        } finally {
          stop();
          await holder.query('rollback').catch(() => undefined);
          await holder.end();
        }
      }, 30_000);
  });
}

/** Backends waiting for an advisory lock (the group commit's statements held behind the test's lock). */
async function lockWaiters(client: pg.Client): Promise<number> {
  const result = await client.query(
    `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`,
  );
  return result.rows[0].n;
}
