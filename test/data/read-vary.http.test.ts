import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

/** Record reads vary on the caller; with CORS on they also vary on Origin: both must survive. */
for (const target of dataTargets()) {
  describe.skipIf(!target.available)(`Vary on record reads with CORS on: ${target.name}`, () => {
    let c: DataClient;
    let id: string;

    beforeAll(async () => {
      c = await startDataPlatform(await target.url(), {
        gateway: { cors: { enabled: true, origins: ['https://app.example.test'] } },
      });
      const created = await c.api('POST', '/api/v1/collections', {
        name: 'posts',
        fields: [{ name: 'title', type: 'text' }],
        rules: { list: '', view: '' },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      id = (await c.api('POST', '/api/v1/collections/posts/records', { title: 'hello' })).body.id;
    });
    afterAll(() => c?.close());

    it.each([
      ['list', () => '/api/v1/collections/posts/records'],
      ['view', () => `/api/v1/collections/posts/records/${id}`],
    ])('%s: Vary names Origin, Authorization and Cookie, each once', async (_what, path) => {
      const response = await c.api('GET', path(), undefined, {
        auth: false,
        headers: { origin: 'https://app.example.test' },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
      const names = (response.headers.get('vary') ?? '').split(',').map((n) => n.trim().toLowerCase());
      expect([...names].sort()).toEqual(['authorization', 'cookie', 'origin']);
    });
  });
}
