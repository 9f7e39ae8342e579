import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectionDef } from '../../src/data/collections/collection.js';
import { schemaBaseName } from '../../src/data/openapi/collection-schemas.js';
import { buildOpenApi } from '../../src/data/openapi/openapi.js';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';
import {
  contractOf,
  type Doc,
  lookup,
  routeOf,
  schemaAjv,
  validateDocument,
} from '../support/openapi-contract.js';

const UNKNOWN_ID = '0190a0b0-0000-7000-8000-000000000000';

const authors = {
  name: 'authors',
  fields: [
    { name: 'name', type: 'text', required: true, max: 100 },
    { name: 'email', type: 'email', unique: true },
    { name: 'homepage', type: 'url' },
  ],
  rules: { list: '', view: '', create: null, update: null, delete: null },
};
const tags = { name: 'tags', fields: [{ name: 'label', type: 'text', required: true, pattern: '^[a-z]+$' }] };
const posts = {
  name: 'posts',
  fields: [
    { name: 'title', type: 'text', required: true, min: 1, max: 200 },
    { name: 'views', type: 'number', integer: true, min: 0, default: 0 },
    { name: 'score', type: 'number', min: -10, max: 10 },
    { name: 'published', type: 'boolean', default: false },
    { name: 'at', type: 'datetime' },
    { name: 'meta', type: 'json' },
    { name: 'settings', type: 'json', required: true, default: { theme: 'light' } },
    { name: 'status', type: 'select', values: ['draft', 'live'], default: 'draft' },
    { name: 'flags', type: 'select', values: ['x', 'y', 'z'], multiple: true, maxSelect: 2 },
    { name: 'author', type: 'relation', collection: 'authors', required: true },
    { name: 'tags', type: 'relation', collection: 'tags', multiple: true, onDelete: 'set null' },
    { name: 'contact', type: 'email' },
  ],
  rules: { list: 'published = true', view: 'published = true', create: null, update: null, delete: null },
};

const def = (name: string, fields: unknown[], rules: Partial<CollectionDef['rules']> = {}) =>
  ({
    name,
    fields,
    indexes: [],
    rules: { list: null, view: null, create: null, update: null, delete: null, ...rules },
    created: '2026-01-01T00:00:00.000Z',
    updated: '2026-01-01T00:00:00.000Z',
  }) as unknown as CollectionDef;

describe('buildOpenApi', () => {
  const doc: Doc = buildOpenApi(
    [
      def('people', [
        { name: 'name', type: 'text', required: true, unique: false, min: 2 },
        { name: 'age', type: 'number', integer: true, required: false, unique: false, max: 150 },
        { name: 'mail', type: 'email', required: false, unique: false },
        { name: 'kinds', type: 'select', values: ['a', 'b'], multiple: true, required: true, unique: false },
        {
          name: 'best',
          type: 'relation',
          collection: 'people',
          multiple: false,
          required: false,
          unique: false,
          onDelete: 'set null',
        },
      ]),
    ],
    { version: '9.9.9', serverUrl: 'https://api.example.com' },
  );

  it('is a valid OpenAPI 3.1 document whose schemas are valid JSON Schema 2020-12', async () => {
    expect(await validateDocument(doc)).toEqual({ valid: true });
    expect(() => schemaAjv(doc)).not.toThrow();
    expect(await validateDocument(buildOpenApi([], { version: '0.0.0' }))).toEqual({ valid: true });
    expect(doc.servers).toEqual([{ url: 'https://api.example.com' }]);
  });

  it('the validators reject broken copies of it', async () => {
    const noInfo = structuredClone(doc);
    delete noInfo.info;
    expect((await validateDocument(noInfo)).valid).toBe(false);
    const dangling = structuredClone(doc);
    dangling.paths['/healthz'].get.responses['200'].content['application/json'].schema = {
      $ref: '#/components/schemas/Nope',
    };
    expect((await validateDocument(dangling)).valid).toBe(false);
    const noDescription = structuredClone(doc);
    delete noDescription.paths['/readyz'].get.responses['200'].description;
    expect((await validateDocument(noDescription)).valid).toBe(false);
    const badParameter = structuredClone(doc);
    badParameter.components.parameters.Limit.in = 'body';
    expect((await validateDocument(badParameter)).valid).toBe(false);
    // The OpenAPI schema does not look inside Schema Objects; the 2020-12 meta-schema does.
    const badSchema = structuredClone(doc);
    badSchema.components.schemas.PeopleRecord.properties.age.type = 'integr';
    expect((await validateDocument(badSchema)).valid).toBe(true);
    expect(() => schemaAjv(badSchema)).toThrow(/schema is invalid/);
  });

  it('maps each field type to its exact JSON type, nullable unless required', () => {
    const record = doc.components.schemas.PeopleRecord;
    expect(record.required).toEqual(['id', 'created', 'updated', 'name', 'age', 'mail', 'kinds', 'best']);
    expect(record.additionalProperties).toBe(false);
    expect(record.properties.name).toEqual({ type: 'string', minLength: 2 });
    expect(record.properties.age).toEqual({
      type: ['integer', 'null'],
      minimum: -(2 ** 53 - 1),
      maximum: 150,
    });
    expect(record.properties.mail).toEqual({
      type: ['string', 'null'],
      anyOf: [{ format: 'email' }, { const: '' }],
    });
    expect(record.properties.kinds).toEqual({
      type: 'array',
      items: { type: 'string', enum: ['a', 'b'] },
      uniqueItems: true,
    });
    expect(record.properties.best.type).toEqual(['string', 'null']);
    expect(record.properties.expand.properties.best).toEqual({ $ref: '#/components/schemas/PeopleRecord' });
    const create = doc.components.schemas.PeopleCreate;
    expect(create.required).toEqual(['name', 'kinds']);
    expect(create.properties.kinds.minItems).toBe(1);
    expect(doc.components.schemas.PeoplePatch.required).toBeUndefined();
  });

  it('gives collections distinct schema names', () => {
    const names = ['a_b', 'a__b', 'ab', 'a_1', 'a1', 'a_b_c', 'a_bc'].map(schemaBaseName);
    expect(new Set(names).size).toBe(names.length);
    expect(schemaBaseName('blog_posts')).toBe('BlogPosts');
  });

  it('lists error responses on every operation, as problem+json', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries<Doc>(doc.paths)) {
      for (const [method, op] of Object.entries<Doc>(item)) {
        if (method === 'parameters') continue;
        expect(ids.has(op.operationId), op.operationId).toBe(false);
        ids.add(op.operationId);
        expect(op.security, `${method} ${path}`).toBeDefined();
        for (const status of ['401', '429', '500', '503'])
          expect(op.responses[status], `${method} ${path} ${status}`).toBeDefined();
        for (const [status, response] of Object.entries<Doc>(op.responses)) {
          if (Number(status) < 400) continue;
          const resolved = response.$ref ? lookup(doc, response.$ref) : response;
          expect(resolved.content['application/problem+json'].schema).toEqual({
            $ref: '#/components/schemas/Problem',
          });
        }
      }
    }
    expect(ids.size).toBe(21); // 12 system operations, 6 for the collection, batch, mail, JWKS
  });
});

for (const target of dataTargets()) {
  describe.skipIf(!target.available)(`OpenAPI at /api/v1/openapi.json: ${target.name}`, () => {
    let c: DataClient;
    let doc: Doc;
    let contract: ReturnType<typeof contractOf>;
    const base = (name: string) => `/api/v1/collections/${name}/records`;
    const one = (name: string) => `${base(name)}/{id}`;
    const call = async (
      method: string,
      path: string,
      template: string,
      body?: unknown,
      options?: { headers?: Record<string, string>; auth?: boolean },
    ) => {
      const res = await c.api(method, path, body, options);
      contract.check(method, template, res);
      return res;
    };

    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      for (const collection of [authors, tags, posts]) {
        const res = await c.api('POST', '/api/v1/collections', collection);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const res = await c.api('GET', '/api/v1/openapi.json');
      expect(res.status).toBe(200);
      doc = res.body;
      contract = contractOf(doc);
    });
    afterAll(() => c?.close());

    it('is admin only, and valid OpenAPI 3.1 with valid schemas', async () => {
      contract.check('GET', '/api/v1/openapi.json', await c.api('GET', '/api/v1/openapi.json'));
      const anonymous = await call('GET', '/api/v1/openapi.json', '/api/v1/openapi.json', undefined, {
        auth: false,
      });
      expect(anonymous.status).toBe(401);
      expect(await validateDocument(doc)).toEqual({ valid: true });
      expect(doc.openapi).toBe('3.1.0');
      for (const name of ['Problem', 'AuthorsRecord', 'PostsCreate', 'PostsPatch', 'PostsList', 'TagsRecord'])
        expect(doc.components.schemas[name], name).toBeDefined();
    });

    it('documents only routes the server has, with the parameters and security of each', () => {
      const app = c.gw.platform.app;
      for (const [path, item] of Object.entries<Doc>(doc.paths)) {
        const url = routeOf(path);
        for (const method of Object.keys(item).filter((m) => m !== 'parameters'))
          expect(app.hasRoute({ method: method.toUpperCase() as 'GET', url }), `${method} ${path}`).toBe(
            true,
          );
      }
      const list = doc.paths[base('posts')].get;
      expect(list.parameters.map((p: Doc) => p.name ?? p.$ref.split('/').pop())).toEqual([
        'Filter',
        'sort',
        'Limit',
        'Cursor',
        'Offset',
        'fields',
        'expand',
        'Total',
      ]);
      expect(doc.components.parameters.Limit.schema).toEqual({
        type: 'integer',
        minimum: 1,
        maximum: 500,
        default: 30,
      });
      expect(list.security).toEqual([{}, { bearerAuth: [] }]);
      expect(doc.paths[base('posts')].post.security).toEqual([{ bearerAuth: [] }]);
      expect(doc.paths['/api/v1/collections'].get.security).toEqual([{ bearerAuth: [] }]);
      expect(doc.paths['/healthz'].get.security).toEqual([]);
      const patch = doc.paths[one('posts')].patch;
      expect(patch.parameters.map((p: Doc) => p.$ref)).toEqual([
        '#/components/parameters/IfMatch',
        '#/components/parameters/IdempotencyKey',
      ]);
      expect(Object.keys(patch.responses)).toEqual([
        '200',
        '400',
        '401',
        '403',
        '404',
        '409',
        '412',
        '413',
        '415',
        '422',
        '429',
        '500',
        '503',
      ]);
    });

    it('real responses match the documented schemas', async () => {
      const ada = await call('POST', base('authors'), base('authors'), {
        name: 'Ada',
        email: 'ada@example.com',
        homepage: 'https://ada.example/',
      });
      expect(ada.status).toBe(201);
      const bob = await call('POST', base('authors'), base('authors'), { name: 'Bob', email: '' });
      expect(bob.body.email).toBe('');
      const tagBody = { label: 'db' };
      expect(contract.acceptsBody('POST', base('tags'), tagBody)).toBe(true);
      const tag = await call('POST', base('tags'), base('tags'), tagBody);
      const tag2 = await call('POST', base('tags'), base('tags'), { label: 'sql' });

      const full = {
        title: 'Hello',
        views: 3,
        score: 1.5,
        published: true,
        at: '2026-01-02T03:04:05+01:00',
        meta: { a: [1, { b: null }] },
        status: 'live',
        flags: ['x', 'z'],
        author: ada.body.id,
        tags: [tag.body.id, tag2.body.id],
        contact: 'ops@example.com',
      };
      expect(contract.acceptsBody('POST', base('posts'), full)).toBe(true);
      const post = await call('POST', base('posts'), base('posts'), full);
      expect(post.status, JSON.stringify(post.body)).toBe(201);
      expect(post.body.settings).toEqual({ theme: 'light' });
      const minimal = await call('POST', base('posts'), base('posts'), {
        title: 'Minimal',
        author: bob.body.id,
        at: '2026-03-01',
      });
      expect(minimal.body).toMatchObject({
        score: null,
        meta: null,
        flags: null,
        tags: null,
        at: '2026-03-01T00:00:00.000Z',
      });

      const path = `${base('posts')}/${post.body.id}`;
      const got = await call('GET', path, one('posts'));
      const etag = got.headers.get('etag') ?? '';
      expect(
        (await call('GET', path, one('posts'), undefined, { headers: { 'if-none-match': etag } })).status,
      ).toBe(304);
      // Caching headers: Vary on the credentials, Last-Modified for If-Modified-Since (not with expand).
      expect(got.headers.get('vary')).toBe('Authorization, Cookie');
      expect(got.headers.get('cache-control')).toBe('no-store'); // the view rule protects posts
      const lastModified = got.headers.get('last-modified') ?? '';
      expect(Date.parse(lastModified)).toBeGreaterThan(0);
      const unchanged = await call('GET', path, one('posts'), undefined, {
        headers: { 'if-modified-since': lastModified },
      });
      expect(unchanged.status).toBe(304);
      expect(unchanged.headers.get('last-modified')).toBe(lastModified);
      const expanded = await call('GET', `${path}?expand=author,tags`, one('posts'));
      expect(expanded.body.expand.tags).toHaveLength(2);
      expect(expanded.headers.get('last-modified')).toBeNull();

      const listed = await call(
        'GET',
        `${base('posts')}?expand=author,tags&total=true&sort=-created`,
        base('posts'),
      );
      expect(listed.body.total).toBe(2);
      expect(listed.body.items[0].expand.author.name).toBe('Bob');
      const paged = await call('GET', `${base('posts')}?limit=1`, base('posts'));
      expect(paged.headers.get('link')).toContain('rel="next"');
      await call('GET', paged.body.links.next, base('posts'));
      expect((await call('GET', `${base('posts')}?offset=1&limit=1`, base('posts'))).body.offset).toBe(1);
      const anonymous = await call('GET', base('posts'), base('posts'), undefined, { auth: false });
      expect(anonymous.body.items.map((p: { id: string }) => p.id)).toEqual([post.body.id]);
      // With `fields`, records are projections of the documented record.
      const projected = await c.api(
        'GET',
        `${base('posts')}?fields=id,title,expand.author.name&expand=author`,
      );
      expect(projected.status).toBe(200);
      for (const item of projected.body.items)
        for (const key of Object.keys(item))
          expect(doc.components.schemas.PostsRecord.properties).toHaveProperty(key);

      const patched = await call(
        'PATCH',
        path,
        one('posts'),
        { views: 4, flags: ['y'] },
        { headers: { 'if-match': etag } },
      );
      expect(patched.status).toBe(200);
      const stale = await call('PATCH', path, one('posts'), { views: 5 }, { headers: { 'if-match': etag } });
      expect(stale.status).toBe(412);
      const replaced = await call('PUT', path, one('posts'), { ...got.body, title: 'Replaced' });
      expect(replaced.status).toBe(200);

      const invalid = { title: '', views: 1.5, flags: ['x', 'y', 'z'], extra: 1 };
      expect(contract.acceptsBody('POST', base('posts'), invalid)).toBe(false);
      const refused = await call('POST', base('posts'), base('posts'), invalid);
      expect(refused.body.code).toBe('DATA_ERR_VALIDATION');
      expect(refused.body.errors.length).toBeGreaterThanOrEqual(3);
      expect((await call('GET', `${base('posts')}/${UNKNOWN_ID}`, one('posts'))).status).toBe(404);
      expect((await call('POST', base('posts'), base('posts'), { title: 'x' }, { auth: false })).status).toBe(
        401,
      );
      expect((await call('GET', `${base('posts')}?nope=1`, base('posts'))).body.code).toBe(
        'DATA_ERR_QUERY_INVALID',
      );
      expect(
        (await call('GET', `${base('posts')}?filter=${encodeURIComponent('title ==')}`, base('posts')))
          .status,
      ).toBe(400);
      expect((await call('POST', base('tags'), base('tags'), '{"label":')).body.code).toBe(
        'HTTP_ERR_INVALID_BODY',
      );
      expect((await call('DELETE', `${base('authors')}/${ada.body.id}`, one('authors'))).body.code).toBe(
        'DATA_ERR_REFERENCED',
      );

      const key = { headers: { 'idempotency-key': '"openapi-test-1"' } };
      const first = await call('POST', base('tags'), base('tags'), { label: 'once' }, key);
      const replay = await call('POST', base('tags'), base('tags'), { label: 'once' }, key);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.body.id).toBe(first.body.id);
      expect((await call('POST', base('tags'), base('tags'), { label: 'other' }, key)).status).toBe(422);

      for (const [contentType, body, status] of [
        ['application/xml', '<label>x</label>', 415],
        ['application/json', JSON.stringify({ label: 'x'.repeat(1_100_000) }), 413],
      ] as const) {
        const raw = await fetch(`${c.gw.url}${base('tags')}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${c.adminKey}`, 'content-type': contentType },
          body,
        });
        const text = await raw.text();
        contract.check('POST', base('tags'), {
          status: raw.status,
          headers: raw.headers,
          body: JSON.parse(text),
        });
        expect(raw.status).toBe(status);
      }

      const batch = await call('POST', '/api/v1/batch', '/api/v1/batch', {
        operations: [
          { op: 'create', collection: 'tags', data: { label: 'batched' } },
          { op: 'update', collection: 'posts', id: post.body.id, data: { views: 9 } },
          { op: 'delete', collection: 'posts', id: minimal.body.id },
        ],
      });
      expect(batch.body.results.map((r: { status: number }) => r.status)).toEqual([201, 200, 204]);
      const failed = await call('POST', '/api/v1/batch', '/api/v1/batch', {
        operations: [
          { op: 'create', collection: 'tags', data: { label: 'fine' } },
          { op: 'create', collection: 'tags', data: { label: 'NOT LOWER' } },
        ],
      });
      expect(failed.body).toMatchObject({
        code: 'DATA_ERR_BATCH_FAILED',
        failedIndex: 1,
        error: { code: 'DATA_ERR_VALIDATION' },
      });
      const missing = await call('POST', '/api/v1/batch', '/api/v1/batch', {
        operations: [{ op: 'delete', collection: 'tags', id: UNKNOWN_ID }],
      });
      expect(missing.status).toBe(404);
      expect((await call('DELETE', `${base('tags')}/${first.body.id}`, one('tags'))).status).toBe(204);

      expect(contract.checked.size).toBeGreaterThanOrEqual(24);
    });

    it('admin, key and health routes match too', async () => {
      await call('GET', '/api/v1/collections', '/api/v1/collections');
      await call('GET', '/api/v1/collections/posts', '/api/v1/collections/{name}');
      expect((await call('GET', '/api/v1/collections/nope', '/api/v1/collections/{name}')).status).toBe(404);
      expect(
        (await call('POST', '/api/v1/collections', '/api/v1/collections', { name: 'tags' })).status,
      ).toBe(409);
      expect(
        (await call('POST', '/api/v1/collections', '/api/v1/collections', { name: 'Bad Name' })).status,
      ).toBe(400);
      expect(
        (await call('GET', '/api/v1/collections', '/api/v1/collections', undefined, { auth: false })).status,
      ).toBe(401);
      const created = await call('POST', '/api/v1/admin/keys', '/api/v1/admin/keys', {
        name: 'ci',
        expiresAt: '2030-01-01T00:00:00Z',
      });
      expect(created.status).toBe(201);
      await call('GET', '/api/v1/admin/keys', '/api/v1/admin/keys');
      expect((await call('POST', '/api/v1/admin/keys', '/api/v1/admin/keys', { name: '' })).status).toBe(400);
      const revoke = `/api/v1/admin/keys/${created.body.id}`;
      expect((await call('DELETE', revoke, '/api/v1/admin/keys/{id}')).status).toBe(204);
      expect((await call('DELETE', revoke, '/api/v1/admin/keys/{id}')).status).toBe(404);
      await call('GET', '/healthz', '/healthz', undefined, { auth: false });
      await call('GET', '/readyz', '/readyz', undefined, { auth: false });
      const metrics = await c.api('GET', '/metrics', undefined, { auth: false });
      contract.check('GET', '/metrics', metrics);
    });

    it('changes live: an added field, a new collection and a dropped one', async () => {
      expect(doc.components.schemas.TagsRecord.properties.colour).toBeUndefined();
      const change = await call('PATCH', '/api/v1/collections/tags', '/api/v1/collections/{name}', {
        addFields: [{ name: 'colour', type: 'select', values: ['red', 'blue'] }],
      });
      expect(change.status).toBe(200);
      await call('POST', '/api/v1/collections', '/api/v1/collections', {
        name: 'notes',
        fields: [{ name: 'body', type: 'text' }],
      });

      const after: Doc = (await c.api('GET', '/api/v1/openapi.json')).body;
      expect(after.components.schemas.TagsRecord.properties.colour).toEqual({
        type: ['string', 'null'],
        enum: ['red', 'blue', null],
      });
      expect(after.components.schemas.TagsRecord.required).toContain('colour');
      expect(after.paths[base('notes')]).toBeDefined();
      expect(await validateDocument(after)).toEqual({ valid: true });
      const live = contractOf(after);
      const res = await c.api('POST', base('tags'), { label: 'blue', colour: 'blue' });
      live.check('POST', base('tags'), res);
      expect(() => contract.check('POST', base('tags'), res)).toThrow(/colour|additional/);

      expect((await call('DELETE', '/api/v1/collections/notes', '/api/v1/collections/{name}')).status).toBe(
        204,
      );
      const dropped: Doc = (await c.api('GET', '/api/v1/openapi.json')).body;
      expect(dropped.paths[base('notes')]).toBeUndefined();
      expect(dropped.components.schemas.NotesRecord).toBeUndefined();
    });
  });
}
