import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type GenerationStore, MemoryGenerationStore } from '../../src/data/cache/generations.js';
import { RedisGenerationStore } from '../../src/data/cache/redis-generation-store.js';
import { sharedRedis } from '../harness/shared-engines.js';

/**
 * The generation stores behind cached record reads, one suite for both: numbers are stable until
 * bumped, a bump adds exactly one, concurrent bumps never hand out a number twice, and numbers
 * never go back — in Redis, not even after the counters are lost.
 */
const redis = sharedRedis();
const T0 = 1_700_000_000_000;
let admin: Redis | undefined;

interface Target {
  name: string;
  available: boolean;
  create(prefix: string): Promise<GenerationStore>;
}

const targets: Target[] = [
  { name: 'memory', available: true, create: async () => new MemoryGenerationStore(() => T0) },
  {
    name: 'redis',
    available: redis.available,
    async create(prefix) {
      const store = new RedisGenerationStore({ url: redis.url, keyPrefix: prefix });
      await store.start();
      return store;
    },
  },
];

afterAll(async () => {
  await admin?.quit();
});

for (const target of targets) {
  describe.runIf(target.available)(`generation store: ${target.name}`, () => {
    const opened: GenerationStore[] = [];
    const prefix = `test:gen:${randomBytes(6).toString('hex')}:`;
    const open = async () => {
      const store = await target.create(prefix);
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    it('reads the same number until a bump, which adds exactly one, per collection and in order', async () => {
      const store = await open();
      const [a, b] = await store.read(['a1', 'b1']);
      expect(a).toBeGreaterThanOrEqual(T0 * 1_000);
      expect(await store.read(['b1', 'a1'])).toEqual([b, a]);
      expect(await store.bump(['a1'])).toEqual([a! + 1]);
      expect(await store.bump(['b1', 'a1'])).toEqual([b! + 1, a! + 2]);
      expect(await store.read(['a1', 'b1'])).toEqual([a! + 2, b! + 1]);
    });

    it('a collection never read is bumped from its starting number', async () => {
      const store = await open();
      const [bumped] = await store.bump(['fresh']);
      expect(bumped).toBeGreaterThan(T0 * 1_000);
      expect(await store.read(['fresh'])).toEqual([bumped]);
    });

    it('concurrent bumps hand out every number once', async () => {
      const store = await open();
      const [start] = await store.read(['hot']);
      const results = await Promise.all(Array.from({ length: 200 }, () => store.bump(['hot'])));
      const numbers = results.map(([n]) => n!).sort((x, y) => x - y);
      expect(new Set(numbers).size).toBe(200);
      expect(numbers[0]).toBe(start! + 1);
      expect(numbers.at(-1)).toBe(start! + 200);
    });

    if (target.name !== 'redis') return;

    it('is shared by stores on one Redis, and never goes back after the counters are lost', async () => {
      const one = await open();
      const two = await open();
      const [bumped] = await one.bump(['shared']);
      expect(await two.read(['shared'])).toEqual([bumped]);
      const [ahead] = await two.bump(['shared']);
      admin ??= new Redis(redis.url);
      await admin.del(`${prefix}gen:shared`);
      const [after] = await one.read(['shared']);
      expect(after).toBeGreaterThan(ahead!);
      expect((await two.bump(['shared']))[0]).toBe(after! + 1);
    });

    it('fails with CACHE_ERR_STORE_UNAVAILABLE when Redis is unreachable', async () => {
      const store = new RedisGenerationStore({
        url: 'redis://127.0.0.1:1',
        keyPrefix: prefix,
        connectTimeoutMs: 200,
      });
      opened.push(store);
      await expect(store.start()).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
      await expect(store.read(['x'])).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
      await expect(store.bump(['x'])).rejects.toMatchObject({ code: 'CACHE_ERR_STORE_UNAVAILABLE' });
    });
  });
}
