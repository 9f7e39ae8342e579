/**
 * One suite for every bus driver: the in-process hub, a real Redis and a real PostgreSQL. Each test
 * runs two `Bus` instances ("nodes") on one engine. Add a driver to `targets` and it must pass all.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Bus, type BusMessageMeta } from '../../src/bus/bus.js';
import type { BusDriver, BusDriverListener } from '../../src/bus/bus-driver.js';
import { encodeEnvelope } from '../../src/bus/bus-envelope.js';
import { DelayedBusDriver } from '../../src/bus/drivers/delayed-bus-driver.js';
import { MemoryBusDriver, MemoryBusHub } from '../../src/bus/drivers/memory-bus-driver.js';
import { PostgresBusDriver } from '../../src/bus/drivers/postgres-bus-driver.js';
import { RedisBusDriver } from '../../src/bus/drivers/redis-bus-driver.js';
import { GroundworkError } from '../../src/core/errors.js';
import { Metrics } from '../../src/core/metrics.js';
import { waitFor } from '../harness/engines.js';
import { redisCommand } from '../harness/redis.js';
import { sharedPostgres, sharedRedis } from '../harness/shared-engines.js';

const redis = sharedRedis();
const postgres = sharedPostgres();
const WAIT = { timeoutMs: 10_000, intervalMs: 5 };

interface Target {
  name: string;
  available: boolean;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A driver whose connections carry `node` in their name. */
  driver(node: string): BusDriver;
  /** Breaks the node's subscription connection from the engine's side. */
  kill(node: string, driver: BusDriver): Promise<void>;
  /** How many subscription connections the engine sees for `node`. */
  listenerConnections?(node: string): Promise<number>;
  /** How many connections the engine has subscribed to `channel` (PostgreSQL cannot tell). */
  channelSubscribers?(channel: string): Promise<number>;
}

function memoryTarget(): Target {
  let hub = new MemoryBusHub();
  return {
    name: 'memory',
    available: true,
    async setup() {
      hub = new MemoryBusHub();
    },
    async teardown() {},
    driver: () => new MemoryBusDriver({ hub }),
    async kill(_node, driver) {
      (driver as MemoryBusDriver).dropConnection();
    },
    async channelSubscribers(channel) {
      return hub.subscriberCount(channel);
    },
  };
}

function redisTarget(): Target {
  let admin: Redis;
  const port = redis.available ? Number(new URL(redis.url).port) : 0;
  /** `CLIENT LIST TYPE pubsub` lines of the node's subscriber connection. */
  const pubsubClients = async (node: string): Promise<string[]> => {
    const reply = await redisCommand(port, 'CLIENT', 'LIST', 'TYPE', 'pubsub');
    return reply.split(/\r?\n/).filter((line) => line.includes(` name=${node}-sub `));
  };
  return {
    name: 'redis',
    available: redis.available,
    async setup() {
      admin = new Redis(redis.url, { lazyConnect: true });
      await admin.connect();
    },
    async teardown() {
      await admin.quit();
    },
    driver: (node) => new RedisBusDriver({ url: redis.url, connectionName: node, reconnectMinMs: 10 }),
    async kill(node) {
      const [line] = await pubsubClients(node);
      const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
      expect(id, `pubsub client of ${node}`).toBeDefined();
      // The brief's CLIENT KILL TYPE pubsub, narrowed to this node's connection (the Redis is shared).
      expect(await redisCommand(port, 'CLIENT', 'KILL', 'ID', id!, 'TYPE', 'pubsub')).toBe(':1');
    },
    async listenerConnections(node) {
      return (await pubsubClients(node)).length;
    },
    async channelSubscribers(channel) {
      const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    },
  };
}

function postgresTarget(): Target {
  let url = '';
  let admin: pg.Client;
  return {
    name: 'postgres',
    available: postgres.available,
    async setup() {
      url = await postgres.createDatabase('bus');
      admin = new pg.Client({ connectionString: url });
      await admin.connect();
    },
    async teardown() {
      await admin.end();
    },
    driver: (node) => new PostgresBusDriver({ url, applicationName: node, reconnectMinMs: 10 }),
    async kill(node) {
      const result = await admin.query(
        'select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1',
        [`${node}-listen`],
      );
      expect(result.rows).toEqual([{ killed: true }]);
    },
    async listenerConnections(node) {
      const result = await admin.query(
        'select count(*)::int as n from pg_stat_activity where application_name = $1',
        [`${node}-listen`],
      );
      return result.rows[0].n as number;
    },
  };
}

/** Counts what the driver itself hands to the bus, per channel: duplicates would show here first. */
function counting(driver: BusDriver): { driver: BusDriver; raw: Map<string, number> } {
  const raw = new Map<string, number>();
  const wrapped: BusDriver = {
    name: driver.name,
    capabilities: driver.capabilities,
    open: (listener: BusDriverListener) =>
      driver.open({
        ...listener,
        message: (channel, payload) => {
          raw.set(channel, (raw.get(channel) ?? 0) + 1);
          listener.message(channel, payload);
        },
      }),
    publish: (channel, payload) => driver.publish(channel, payload),
    subscribe: (channels) => driver.subscribe(channels),
    unsubscribe: (channels) => driver.unsubscribe(channels),
    close: () => driver.close(),
  };
  return { driver: wrapped, raw };
}

/** Collects what one subscription receives. */
function recorder<T = unknown>() {
  const messages: T[] = [];
  const metas: BusMessageMeta[] = [];
  const handler = (message: T, meta: BusMessageMeta): void => {
    messages.push(message);
    metas.push(meta);
  };
  return { messages, metas, handler };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    return (error as GroundworkError).code;
  }
  throw new Error('expected the operation to fail');
}

const targets = [memoryTarget(), redisTarget(), postgresTarget()];

for (const target of targets) {
  describe.skipIf(!target.available)(`bus conformance: ${target.name}`, () => {
    const open: Bus[] = [];
    let prefix = '';

    interface Node {
      bus: Bus;
      name: string;
      driver: BusDriver;
      raw: Map<string, number>;
      metrics: Metrics;
    }

    async function node(label: string): Promise<Node> {
      const name = `gwbus-${label}-${randomBytes(4).toString('hex')}`;
      const driver = target.driver(name);
      const { driver: wrapped, raw } = counting(driver);
      const metrics = new Metrics({ processMetrics: false });
      const bus = new Bus({ driver: wrapped, nodeId: name, channelPrefix: prefix, metrics });
      open.push(bus);
      await bus.start();
      return { bus, name, driver, raw, metrics };
    }

    /**
     * Publishes a marker from `from` and waits until every given list holds it: all that `from`
     * published on `topic` before has then reached those subscriptions (order per publisher).
     */
    async function flush(from: Bus, topic: string, ...seen: Array<() => unknown[]>): Promise<void> {
      const marker = JSON.stringify({ marker: randomBytes(6).toString('hex') });
      await from.publish(topic, JSON.parse(marker));
      await waitFor(() => seen.every((list) => list().some((m) => JSON.stringify(m) === marker)), {
        ...WAIT,
        what: `marker on ${topic}`,
      });
    }

    beforeAll(() => target.setup());
    afterAll(() => target.teardown());
    afterEach(async () => {
      await Promise.all(open.splice(0).map((bus) => bus.close()));
      prefix = `t${randomBytes(4).toString('hex')}:`;
    });
    prefix = `t${randomBytes(4).toString('hex')}:`;

    it('delivers one publish once to every subscription on both nodes, with its envelope', async () => {
      const a = await node('a');
      const b = await node('b');
      const a1 = recorder();
      const a2 = recorder();
      const b1 = recorder();
      await a.bus.subscribe('orders', a1.handler);
      await a.bus.subscribe('orders', a2.handler);
      await b.bus.subscribe('orders', b1.handler);
      const before = Date.now();
      await a.bus.publish('orders', { id: 7, items: ['x'] });
      await waitFor(() => a1.messages.length + a2.messages.length + b1.messages.length === 3, {
        ...WAIT,
        what: 'three deliveries',
      });
      for (const r of [a1, a2, b1]) expect(r.messages).toEqual([{ id: 7, items: ['x'] }]);
      const [meta] = b1.metas;
      expect(meta).toMatchObject({ topic: 'orders', origin: a.name, own: false });
      expect(meta!.publishedAt).toBeGreaterThanOrEqual(before - 1);
      expect(meta!.publishedAt).toBeLessThanOrEqual(Date.now());
      expect(a1.metas[0]).toEqual({ ...meta, own: true });
      expect(a2.metas[0]!.id).toBe(meta!.id);
      // A later message from each node proves nothing more of the first arrived.
      const everyone = [() => a1.messages, () => a2.messages, () => b1.messages];
      await flush(a.bus, 'orders', ...everyone);
      await flush(b.bus, 'orders', ...everyone);
      expect([a1.messages.length, a2.messages.length, b1.messages.length]).toEqual([3, 3, 3]);
      // Two handlers on node a share one engine subscription: one per node.
      if (target.channelSubscribers) expect(await target.channelSubscribers(`${prefix}orders`)).toBe(2);
      expect(a.raw.get(`${prefix}orders`)).toBe(3);
      expect(a.bus.counters).toMatchObject({ published: 2, delivered: 6, duplicates: 0, malformed: 0 });
    });

    it('ignoreOwn skips the node’s own messages only', async () => {
      const a = await node('a');
      const b = await node('b');
      const mine = recorder();
      const all = recorder();
      await a.bus.subscribe('t', mine.handler, { ignoreOwn: true });
      await a.bus.subscribe('t', all.handler);
      await a.bus.publish('t', 'from-a');
      await b.bus.publish('t', 'from-b');
      await waitFor(() => all.messages.length === 2, { ...WAIT, what: 'both messages' });
      await flush(b.bus, 't', () => mine.messages);
      expect(mine.messages.slice(0, 1)).toEqual(['from-b']);
      expect(all.messages.slice(0, 2).sort()).toEqual(['from-a', 'from-b']);
    });

    it('unsubscribe stops delivery at once; repeated subscribe/unsubscribe never duplicates', async () => {
      const a = await node('a');
      const b = await node('b');
      const keep = recorder<number>();
      const leaving = recorder<number>();
      await b.bus.subscribe('t', keep.handler);
      const stop = await b.bus.subscribe('t', leaving.handler);
      await a.bus.publish('t', 1);
      await waitFor(() => keep.messages.length === 1, { ...WAIT, what: 'message 1' });
      stop();
      stop(); // idempotent
      await a.bus.publish('t', 2);
      await waitFor(() => keep.messages.length === 2, { ...WAIT, what: 'message 2' });
      // Both handlers of a message are called in one pass, so the departed one would have had it by now.
      expect(leaving.messages).toEqual([1]);

      // Churn: sequential, then concurrent and unawaited subscribe/unsubscribe pairs on one topic.
      const churned = recorder<number>();
      for (let i = 0; i < 5; i++) (await b.bus.subscribe('u', churned.handler))();
      await Promise.all(
        Array.from({ length: 10 }, () => b.bus.subscribe('u', churned.handler).then((off) => off())),
      );
      const final = recorder<number>();
      await b.bus.subscribe('u', final.handler);
      const churn = Array.from({ length: 20 }, () =>
        b.bus.subscribe('u', churned.handler).then((off) => off()),
      );
      await b.bus.subscribe('u', keep.handler);
      await Promise.all(churn);
      await a.bus.publish('u', 3);
      await a.bus.publish('u', 4);
      await waitFor(() => final.messages.length >= 2, { ...WAIT, what: 'messages on u' });
      await flush(a.bus, 'u', () => final.messages);
      expect(final.messages.slice(0, 2)).toEqual([3, 4]);
      expect(final.messages).toHaveLength(3);
      expect(churned.messages).toEqual([]);
      expect(b.raw.get(`${prefix}u`)).toBe(3);
      expect(b.bus.counters.duplicates).toBe(0);
      if (target.channelSubscribers) {
        expect(await target.channelSubscribers(`${prefix}u`)).toBe(1);
        // The last unsubscribe of a topic removes the engine subscription.
        const offs = [await b.bus.subscribe('v', final.handler), await b.bus.subscribe('v', keep.handler)];
        expect(await target.channelSubscribers(`${prefix}v`)).toBe(1);
        for (const off of offs) off();
        await waitFor(async () => (await target.channelSubscribers!(`${prefix}v`)) === 0, {
          ...WAIT,
          what: 'engine unsubscription',
        });
      }
    });

    it('a throwing or rejecting handler is logged and counted; the others and the connection go on', async () => {
      const a = await node('a');
      const b = await node('b');
      const good = recorder<number>();
      await b.bus.subscribe('t', () => {
        throw new Error('sync failure');
      });
      await b.bus.subscribe('t', async () => {
        throw new Error('async failure');
      });
      await b.bus.subscribe('t', good.handler);
      for (const n of [1, 2, 3]) await a.bus.publish('t', n);
      await waitFor(() => good.messages.length === 3, { ...WAIT, what: 'three messages' });
      await waitFor(() => b.bus.counters.handlerErrors === 6, { ...WAIT, what: 'six handler errors' });
      expect(good.messages).toEqual([1, 2, 3]);
      await a.bus.publish('t', 4);
      await waitFor(() => good.messages.length === 4, { ...WAIT, what: 'message after the failures' });
      expect(b.bus.connected).toBe(true);
      await waitFor(() => b.bus.counters.handlerErrors === 8, { ...WAIT, what: 'eight handler errors' });
      const text = await b.metrics.render();
      expect(text).toContain(`bus_handler_errors_total{driver="${target.name}"} 8`);
      expect(text).toContain(`bus_messages_delivered_total{driver="${target.name}"} 12`);
      expect(await a.metrics.render()).toContain(`bus_messages_published_total{driver="${target.name}"} 4`);
    });

    it('keeps each publisher’s order per topic, also for unawaited publishes', async () => {
      const a = await node('a');
      const b = await node('b');
      const got = recorder<{ from: string; n: number }>();
      await b.bus.subscribe('seq', got.handler);
      const count = 200;
      await Promise.all(
        Array.from({ length: count }, (_, n) =>
          Promise.all([a.bus.publish('seq', { from: 'a', n }), b.bus.publish('seq', { from: 'b', n })]),
        ),
      );
      await waitFor(() => got.messages.length === 2 * count, { ...WAIT, what: `${2 * count} messages` });
      for (const from of ['a', 'b']) {
        const ns = got.messages.filter((m) => m.from === from).map((m) => m.n);
        expect(ns).toEqual(Array.from({ length: count }, (_, n) => n));
      }
    });

    it('refuses a message over the size bound, counted in UTF-8 bytes; accepts one at the bound', async () => {
      const a = await node('a');
      const b = await node('b');
      const got = recorder<string>();
      await b.bus.subscribe('big', got.handler);
      const max = a.bus.maxMessageBytes;
      expect(max).toBe(Math.min(65_536, a.driver.capabilities.maxPayloadBytes));
      const overhead = Buffer.byteLength(
        encodeEnvelope({ id: randomUUID(), topic: 'big', origin: a.name, publishedAt: Date.now() }, ''),
      );
      const exact = 'x'.repeat(max - overhead);
      await a.bus.publish('big', exact);
      expect(await codeOf(a.bus.publish('big', `${exact}x`))).toBe('BUS_ERR_MESSAGE_TOO_LARGE');
      // Two bytes per "é": within the limit in characters, over it in bytes.
      const wide = 'é'.repeat(Math.ceil((max - overhead + 1) / 2));
      expect(wide.length).toBeLessThan(max - overhead);
      expect(await codeOf(a.bus.publish('big', wide))).toBe('BUS_ERR_MESSAGE_TOO_LARGE');
      await flush(a.bus, 'big', () => got.messages);
      expect(got.messages).toHaveLength(2);
      expect(got.messages[0]).toBe(exact);
    });

    it('resubscribes every topic after the subscription connection is killed; then each message arrives once', async () => {
      const a = await node('a');
      const b = await node('b');
      const t1 = recorder<number>();
      const t1bis = recorder<number>();
      const t2 = recorder<number>();
      const fromB = recorder<number>();
      await b.bus.subscribe('t1', t1.handler);
      await b.bus.subscribe('t1', t1bis.handler);
      await b.bus.subscribe('t2', t2.handler);
      await a.bus.subscribe('back', fromB.handler);
      const events: string[] = [];
      b.bus.onDisconnect(() => events.push('down'));
      // Reconnect listeners run once the topics are subscribed again, with the bus connected.
      b.bus.onReconnect(() => {
        events.push(b.bus.connected ? 'up' : 'up while disconnected');
      });

      for (let round = 1; round <= 2; round++) {
        await target.kill(b.name, b.driver);
        // At-most-once: published while b is (being) disconnected, it may be lost; never doubled.
        await a.bus.publish('t1', -round);
        await waitFor(() => b.bus.counters.reconnects === round, { ...WAIT, what: `reconnect ${round}` });
        expect(events).toEqual(Array.from({ length: round }, () => ['down', 'up']).flat());
        const base = t1.messages.filter((n) => n >= 0).length;
        for (let n = 0; n < 25; n++) {
          void a.bus.publish('t1', n);
          void a.bus.publish('t2', n);
        }
        await b.bus.publish('back', round);
        await waitFor(() => t1.messages.filter((n) => n >= 0).length === base + 25, {
          ...WAIT,
          what: `t1 messages after reconnect ${round}`,
        });
        await flush(a.bus, 't1', () => t1.messages);
        await flush(a.bus, 't2', () => t2.messages);
        const numbers = (list: unknown[]) => list.filter((m): m is number => typeof m === 'number' && m >= 0);
        const expected = Array.from({ length: 25 * round }, (_, i) => i % 25);
        expect(numbers(t1.messages)).toEqual(expected);
        expect(numbers(t1bis.messages)).toEqual(expected);
        expect(numbers(t2.messages)).toEqual(expected);
        for (const r of [t1, t1bis])
          expect(r.messages.filter((n) => n === -round).length).toBeLessThanOrEqual(1);
        await waitFor(() => fromB.messages.length === round, {
          ...WAIT,
          what: 'b publishes after reconnect',
        });
      }
      // Nothing was dropped as a duplicate: the driver itself delivered each publish once.
      expect(b.bus.counters.duplicates).toBe(0);
      const rawT1 = b.raw.get(`${prefix}t1`)!;
      expect(rawT1).toBe(t1.messages.length);
      expect(b.bus.counters.reconnects).toBe(2);
      expect(await b.metrics.render()).toContain(`bus_reconnects_total{driver="${target.name}"} 2`);
      if (target.listenerConnections) expect(await target.listenerConnections(b.name)).toBe(1);
      if (target.channelSubscribers) expect(await target.channelSubscribers(`${prefix}t1`)).toBe(1);
    });

    it('rejects bad topics, unserialisable messages, and everything after close', async () => {
      const a = await node('a');
      expect(await codeOf(a.bus.publish('has space', 1))).toBe('BUS_ERR_INVALID_TOPIC');
      expect(await codeOf(a.bus.publish('x'.repeat(a.bus.maxTopicBytes + 1), 1))).toBe(
        'BUS_ERR_INVALID_TOPIC',
      );
      expect(await codeOf(a.bus.subscribe('"; drop', () => {}))).toBe('BUS_ERR_INVALID_TOPIC');
      expect(await codeOf(a.bus.publish('ok', 10n))).toBe('BUS_ERR_INVALID_MESSAGE');
      expect(await codeOf(a.bus.publish('ok', undefined))).toBe('BUS_ERR_INVALID_MESSAGE');
      const got = recorder();
      await a.bus.subscribe('ok', got.handler);
      await a.bus.close();
      expect(a.bus.connected).toBe(false);
      expect(await codeOf(a.bus.publish('ok', 1))).toBe('BUS_ERR_UNAVAILABLE');
      expect(await codeOf(a.bus.subscribe('ok', () => {}))).toBe('BUS_ERR_UNAVAILABLE');
      expect(got.messages).toEqual([]);
    });
  });
}

describe.skipIf(!postgres.available)('postgres bus driver: engine limits and quoting', () => {
  let url: string;
  let driver: PostgresBusDriver;
  const received: Array<[string, string]> = [];

  beforeAll(async () => {
    url = await postgres.createDatabase('busq');
    driver = new PostgresBusDriver({ url });
    await driver.open({
      message: (channel, payload) => received.push([channel, payload]),
      disconnected: () => {},
      reconnected: () => {},
    });
  });
  afterAll(() => driver.close());

  it('quotes channel names: quotes, semicolons and case are a literal channel, not SQL', async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query('create table canary (id int)');
      const evil = 'Ch"; drop table canary; --';
      await driver.subscribe([evil]);
      await driver.publish(evil, 'payload');
      await driver.publish('ch"; drop table canary; --', 'other case');
      await waitFor(() => received.length >= 1, { ...WAIT, what: 'notification on the quoted channel' });
      await driver.publish(evil, 'second');
      await waitFor(() => received.length >= 2, { ...WAIT, what: 'second notification' });
      expect(received).toEqual([
        [evil, 'payload'],
        [evil, 'second'],
      ]);
      expect((await admin.query('select count(*)::int as n from canary')).rows).toEqual([{ n: 0 }]);
    } finally {
      await admin.end();
    }
  });

  it('refuses payloads of 8000 bytes and more, and channels over 63 bytes, with clear errors', async () => {
    await driver.publish('limits', 'x'.repeat(7_999));
    const tooBig = await driver.publish('limits', 'x'.repeat(8_000)).catch((error: unknown) => error);
    expect(tooBig).toBeInstanceOf(GroundworkError);
    expect((tooBig as GroundworkError).code).toBe('BUS_ERR_MESSAGE_TOO_LARGE');
    expect((tooBig as GroundworkError).message).toMatch(/shorter than 8000 bytes.*8000/);
    const long = 'c'.repeat(64);
    expect(await codeOf(driver.publish(long, 'x'))).toBe('BUS_ERR_INVALID_TOPIC');
    expect(await codeOf(driver.subscribe([long]))).toBe('BUS_ERR_INVALID_TOPIC');
  });
});

describe.skipIf(!redis.available)('delay injection on the Redis driver', () => {
  it('holds every Redis delivery for the injected delay, in publish order', async () => {
    const prefix = `d${randomBytes(4).toString('hex')}:`;
    const sender = new Bus({ driver: new RedisBusDriver({ url: redis.url }), channelPrefix: prefix });
    const delayed = new DelayedBusDriver(new RedisBusDriver({ url: redis.url }), {
      delayMs: () => 40 + Math.random() * 40,
    });
    const receiver = new Bus({ driver: delayed, channelPrefix: prefix });
    try {
      const got: Array<{ n: number; delayMs: number }> = [];
      await receiver.subscribe<number>('t', (n, meta) => {
        got.push({ n, delayMs: Date.now() - meta.publishedAt });
      });
      for (let n = 0; n < 10; n++) void sender.publish('t', n);
      await waitFor(() => delayed.pending > 0, { ...WAIT, what: 'a held message' });
      expect(got).toEqual([]);
      await waitFor(() => got.length === 10, { ...WAIT, what: 'ten delayed messages' });
      expect(got.map((m) => m.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      for (const m of got) expect(m.delayMs).toBeGreaterThanOrEqual(39);
    } finally {
      await Promise.all([sender.close(), receiver.close()]);
    }
  });
});
