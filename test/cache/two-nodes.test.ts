import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DelayedBusDriver } from '../../src/bus/drivers/delayed-bus-driver.js';
import { waitFor } from '../harness/engines.js';
import { sharedPostgres, sharedRedis } from '../harness/shared-engines.js';
import type { ApiResponse } from '../support/data-api.js';
import { type Node, prng, startNode } from './nodes.js';

/**
 * Two Groundwork nodes on one PostgreSQL and one Redis: a client writes through node A and, as soon
 * as the write is acknowledged, reads through node B, which holds the previous value in its cache
 * (read just before). In 10,000 randomized rounds — updates, creates and deletes; reads by id and
 * lists, with and without an expanded relation — B must never return the old value, although
 * every pub/sub message B receives is delayed by 0–80 ms. Strong consistency does not wait for the
 * bus: B's keys come from the generations in Redis. The rounds run in 10 workers at once, each on a
 * collection of its own (so its model of the data is exact), all expanding one shared `owners`
 * collection. Then 1,000 more rounds with the entries shared in Redis (cache driver `redis`). A
 * control shows the same check catching stale reads where they are allowed (`consistency:
 * eventual`, bus held back). A failing run prints its seed; `GW_TWO_NODES_SEED` replays the choices.
 */
const postgres = sharedPostgres();
const redis = sharedRedis();
const WORKERS = 10;
const SEED = Number(process.env.GW_TWO_NODES_SEED ?? Date.now() % 1_000_000);

interface Item {
  id: string;
  n: number;
  label: string;
}

interface ListItem {
  id: string;
  n: number;
  label: string;
  expand?: { owner?: { name: string } };
}

interface Model {
  collection: string;
  owner: { id: string; name: string };
  items: Item[];
}

const path = (collection: string) => `/api/v1/collections/${collection}/records`;

/** The reads a round picks from: the same few keys again and again, so B's cache holds them. */
function readPath(model: Model, kind: number, pick: Item | undefined): string {
  const group = `${path(model.collection)}?sort=n&limit=500`;
  if (kind === 0 && pick) return `${path(model.collection)}/${pick.id}`;
  if (kind === 1) return `${group}&expand=owner&fields=id,n,label,expand.owner.name`;
  if (kind === 2) return `${group}&fields=id,n,label`;
  return group;
}

/** What the read must return now; undefined when it matches. */
function mismatch(model: Model, readUrl: string, response: ApiResponse): string | undefined {
  const byId = /\/records\/([^?]+)$/.exec(readUrl)?.[1];
  if (byId !== undefined) {
    const item = model.items.find((i) => i.id === byId);
    if (item === undefined)
      return response.status === 404 ? undefined : `expected 404, got ${response.status}`;
    if (response.status !== 200) return `expected 200, got ${response.status}`;
    const got = response.body;
    return got.n === item.n && got.label === item.label && got.owner === model.owner.id
      ? undefined
      : `expected ${JSON.stringify(item)}, got ${JSON.stringify({ n: got.n, label: got.label })}`;
  }
  if (response.status !== 200) return `expected 200, got ${response.status}`;
  const want = model.items.map((i) => `${i.id}:${i.n}:${i.label}`);
  const got = (response.body.items as ListItem[]).map((i) => `${i.id}:${i.n}:${i.label}`);
  if (JSON.stringify(want) !== JSON.stringify(got))
    return `list: expected ${JSON.stringify(want).slice(0, 300)}, got ${JSON.stringify(got).slice(0, 300)}`;
  if (readUrl.includes('expand=owner')) {
    const names = (response.body.items as ListItem[]).map((i) => i.expand?.owner?.name);
    if (names.some((name) => name !== model.owner.name))
      return `expanded owner: expected ${model.owner.name}, got ${names.find((n) => n !== model.owner.name)}`;
  }
  return undefined;
}

/** Entries in each node's memory (the main run), or shared in Redis (a shorter run). */
const SETUPS = [
  { driver: 'memory', rounds: 10_000 },
  { driver: 'redis', rounds: 1_000 },
] as const;

for (const { driver: cacheDriver, rounds: ROUNDS } of SETUPS) {
  describe.runIf(postgres.available && redis.available)(
    `two nodes, one PostgreSQL, one Redis (cache driver ${cacheDriver})`,
    () => {
      let a: Node & { adminKey: string };
      let b: Node & { adminKey: string };
      let busDelay: () => number = () => 0;
      const prefix = `t2n${randomBytes(4).toString('hex')}:`;

      beforeAll(async () => {
        const dbUrl = await postgres.createDatabase('two_nodes');
        const config = {
          db: { url: dbUrl, poolMax: 10 },
          cache: { driver: cacheDriver, url: redis.url, keyPrefix: prefix },
          bus: { driver: 'redis' },
        };
        a = await startNode(config);
        b = await startNode(config, {
          adminKey: a.adminKey,
          busDriver: (driver) => new DelayedBusDriver(driver, { delayMs: () => busDelay() }),
        });
      });
      afterAll(async () => {
        await b?.close();
        await a?.close();
      });

      async function defineCollections(
        suffix: string,
        consistency: 'strong' | 'eventual',
      ): Promise<string[]> {
        const owners = `owners_${suffix}`;
        expect(
          (
            await a.api('POST', '/api/v1/collections', {
              name: owners,
              fields: [{ name: 'name', type: 'text' }],
              rules: { list: '', view: '', create: null, update: null, delete: null },
              cache: { ttlMs: 600_000, consistency },
            })
          ).status,
        ).toBe(201);
        const names: string[] = [];
        for (let w = 0; w < WORKERS; w++) {
          const name = `items_${suffix}_${w}`;
          const created = await a.api('POST', '/api/v1/collections', {
            name,
            fields: [
              { name: 'n', type: 'number', integer: true, required: true },
              { name: 'label', type: 'text' },
              { name: 'owner', type: 'relation', collection: owners, required: true },
            ],
            rules: { list: '', view: '', create: null, update: null, delete: null },
            cache: { ttlMs: 600_000, consistency, writeThrough: w % 2 === 0 },
          });
          expect(created.status, JSON.stringify(created.body)).toBe(201);
          names.push(name);
        }
        // Node B learns new collections by polling the schema version (about a second).
        await waitFor(() => names.every((name) => b.platform.data.registry.get(name) !== undefined), {
          timeoutMs: 10_000,
          what: 'node B to see the new collections',
        });
        return names;
      }

      async function seed(collection: string, owners: string, w: number): Promise<Model> {
        const owner = await a.api('POST', path(owners), { name: `owner ${w}` });
        const model: Model = { collection, owner: { id: owner.body.id, name: 'owner 0' }, items: [] };
        model.owner.name = owner.body.name;
        for (let i = 0; i < 4; i++) {
          const created = await a.api('POST', path(collection), {
            n: i,
            label: `l${i}`,
            owner: model.owner.id,
          });
          model.items.push({ id: created.body.id, n: i, label: `l${i}` });
        }
        return model;
      }

      /** One worker's rounds over its own collection; returns what it saw wrong. */
      async function rounds(
        model: Model,
        owners: string,
        count: number,
        random: () => number,
      ): Promise<string[]> {
        const problems: string[] = [];
        let next = model.items.length;
        for (let round = 0; round < count && problems.length < 5; round++) {
          const kind = Math.floor(random() * 4);
          const pickIndex = Math.floor(random() * Math.max(1, model.items.length));
          const pick = model.items[pickIndex];
          // 1. Node B reads (and so caches) the current value.
          const before = readPath(model, kind, pick);
          const warm = await b.api('GET', before);
          const warmProblem = mismatch(model, before, warm);
          if (warmProblem) problems.push(`round ${round} warm-up read ${before}: ${warmProblem}`);
          // 2. Node A writes; the response is the acknowledgement.
          const op = random();
          if (op < 0.55 && pick) {
            const label = `u${round}-${randomBytes(3).toString('hex')}`;
            const res = await a.api('PATCH', `${path(model.collection)}/${pick.id}`, { label, n: next });
            if (res.status !== 200) problems.push(`round ${round} update: ${res.status}`);
            pick.label = label;
            pick.n = next++;
            model.items.sort((x, y) => x.n - y.n);
          } else if (op < 0.75 || model.items.length < 2) {
            const res = await a.api('POST', path(model.collection), {
              n: next,
              label: `c${round}`,
              owner: model.owner.id,
            });
            if (res.status !== 201) problems.push(`round ${round} create: ${res.status}`);
            model.items.push({ id: res.body.id, n: next++, label: `c${round}` });
          } else if (op < 0.92) {
            const victim = model.items.splice(pickIndex, 1)[0]!;
            const res = await a.api('DELETE', `${path(model.collection)}/${victim.id}`);
            if (res.status !== 204) problems.push(`round ${round} delete: ${res.status}`);
          } else {
            const name = `owner ${round}`;
            const res = await a.api('PATCH', `${path(owners)}/${model.owner.id}`, { name });
            if (res.status !== 200) problems.push(`round ${round} owner update: ${res.status}`);
            model.owner.name = name;
          }
          // 3. At once, node B: the same read must show the write (never the cached old value).
          const after = await b.api('GET', before);
          const afterProblem = mismatch(model, before, after);
          if (afterProblem) problems.push(`round ${round} read after write ${before}: ${afterProblem}`);
        }
        return problems;
      }

      it(`never returns the old value after an acknowledged write: ${ROUNDS} rounds, B's bus delayed (seed ${SEED})`, async () => {
        busDelay = () => Math.random() * 80;
        const owners = 'owners_strong';
        const collections = await defineCollections('strong', 'strong');
        const models = await Promise.all(collections.map((name, w) => seed(name, owners, w)));
        const hitsBefore = b.platform.cache.counters.hits;
        const problems = (
          await Promise.all(models.map((model, w) => rounds(model, owners, ROUNDS / WORKERS, prng(SEED + w))))
        ).flat();
        expect(problems).toEqual([]);
        // B did serve from its cache (the warm-up reads of unchanged keys), and the bus was delayed.
        expect(b.platform.cache.counters.hits - hitsBefore).toBeGreaterThan(ROUNDS / 10);
        const driver = b.platform.bus.driver as DelayedBusDriver;
        expect(driver).toBeInstanceOf(DelayedBusDriver);
        expect(b.platform.bus.counters.delivered).toBeGreaterThan(ROUNDS / 10);
      }, 120_000);

      // The control needs entries B holds alone: memory only.
      if (cacheDriver !== 'memory') return;

      it('control: with consistency eventual and the bus held back, B does serve the old value until the message arrives', async () => {
        busDelay = () => 0;
        const [collection] = await defineCollections('eventual', 'eventual');
        const delivered = b.platform.bus.counters.delivered;
        const model = await seed(collection!, 'owners_eventual', 0);
        // The seed's five invalidations must have reached B before it caches anything.
        await waitFor(() => b.platform.bus.counters.delivered >= delivered + 5, {
          timeoutMs: 10_000,
          what: "node B to receive the seed's invalidations",
        });
        const item = model.items[0]!;
        const url = `${path(collection!)}/${item.id}`;
        // B reads twice: the first learns the generation from Redis, the second is a hit.
        expect((await b.api('GET', url)).body.label).toBe(item.label);
        expect((await b.api('GET', url)).body.label).toBe(item.label);
        busDelay = () => 1_500;
        const updated = await a.api('PATCH', url, { label: 'new' });
        expect(updated.status).toBe(200);
        const stale = await b.api('GET', url);
        expect(mismatch({ ...model, items: [{ ...item, label: 'new' }] }, url, stale)).toMatch(/expected/);
        expect(stale.body.label).toBe(item.label);
        // Bounded by the bus delay: once the invalidation arrives, B reads the new value.
        await waitFor(async () => (await b.api('GET', url)).body.label === 'new', {
          timeoutMs: 10_000,
          what: 'node B to apply the delayed invalidation',
        });
        // A strong collection in the same situation is never stale.
        busDelay = () => 1_500;
        const strong = `${path('items_strong_0')}`;
        const list = await b.api('GET', `${strong}?sort=n&limit=500`);
        const first = list.body.items[0];
        await b.api('GET', `${strong}/${first.id}`);
        expect((await a.api('PATCH', `${strong}/${first.id}`, { label: 'strong-new' })).status).toBe(200);
        expect((await b.api('GET', `${strong}/${first.id}`)).body.label).toBe('strong-new');
      }, 60_000);
    },
  );
}
