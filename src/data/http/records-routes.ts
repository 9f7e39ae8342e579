import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ResolvedConfig } from '../../core/config.js';
import type { Database } from '../../db/database.js';
import type { CollectionRegistry } from '../collections/collection-registry.js';
import type { Outbox } from '../outbox/outbox.js';
import { parseListOptions, parseReadOptions } from '../records/read-options.js';
import { etagOf, ifNoneMatchHits } from '../records/record-rows.js';
import type { RecordWriter } from '../records/record-writes.js';
import type { RecordReader } from '../records/records.js';
import { sendWrite } from './write-transaction.js';

export interface RecordRouteDeps {
  database: Database;
  registry: CollectionRegistry;
  reader: RecordReader;
  writer: RecordWriter;
  outbox: Outbox;
  limits: ResolvedConfig['data'];
}

type Params = { name: string; id: string };

/**
 * `/api/v1/collections/{name}/records[/{id}]`. Access is decided per collection and operation by
 * its rules (see src/data/access/rules.ts), so the routes are declared `rules`.
 */
export function registerRecordRoutes(app: FastifyInstance, deps: RecordRouteDeps) {
  const { registry, reader, writer } = deps;
  const rules = { config: { access: 'rules' as const } };
  const base = '/api/v1/collections/:name/records';
  const resolve = (name: string) => registry.get(name);

  app.get<{ Params: Params }>(base, rules, async (request, reply) => {
    const def = registry.require(request.params.name);
    const query = request.query as Record<string, unknown>;
    const options = parseListOptions(query, def, resolve, deps.limits);
    const result = await reader.list(def, options, request.principal);
    const self = request.url;
    const links: Record<string, string> = { self };
    if (result.nextCursor !== null)
      links.next = withParams(request, { cursor: result.nextCursor, offset: undefined });
    else if (options.offset !== undefined && result.items.length === options.limit)
      links.next = withParams(request, { offset: String(options.offset + options.limit) });
    if (links.next) reply.header('link', `<${links.next}>; rel="next"`);
    return {
      items: result.items,
      limit: options.limit,
      ...(options.offset !== undefined ? { offset: options.offset } : {}),
      nextCursor: result.nextCursor,
      ...(result.total !== undefined ? { total: result.total } : {}),
      links,
    };
  });

  app.get<{ Params: Params }>(`${base}/:id`, rules, async (request, reply) => {
    const def = registry.require(request.params.name);
    const options = parseReadOptions(request.query as Record<string, unknown>, def, resolve, deps.limits);
    const stored = await reader.view(def, request.params.id, request.principal);
    const etag = etagOf(stored);
    reply.header('etag', etag);
    if (ifNoneMatchHits(header(request, 'if-none-match'), etag)) return reply.code(304).send();
    return reader.shapeOne(def, stored.record, options, request.principal);
  });

  app.post<{ Params: Params }>(base, rules, async (request, reply) => {
    const def = registry.require(request.params.name);
    return sendWrite(deps, request, reply, async (w) => {
      const stored = await writer.create(w, def, request.body, request.principal);
      return {
        status: 201,
        body: stored.record,
        headers: {
          etag: etagOf(stored),
          location: `/api/v1/collections/${def.name}/records/${stored.record.id}`,
        },
      };
    });
  });

  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Params: Params }>({
      method,
      url: `${base}/:id`,
      ...rules,
      handler: async (request, reply) => {
        const def = registry.require(request.params.name);
        return sendWrite(deps, request, reply, async (w) => {
          const stored = await writer.update(
            w,
            def,
            request.params.id,
            request.body,
            method === 'PATCH' ? 'patch' : 'replace',
            header(request, 'if-match'),
            request.principal,
          );
          return { status: 200, body: stored.record, headers: { etag: etagOf(stored) } };
        });
      },
    });
  }

  app.delete<{ Params: Params }>(`${base}/:id`, rules, async (request, reply) => {
    const def = registry.require(request.params.name);
    return sendWrite(deps, request, reply, async (w) => {
      await writer.delete(w, def, request.params.id, header(request, 'if-match'), request.principal);
      return { status: 204 };
    });
  });
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The request's own URL with some query parameters replaced (undefined removes one). */
function withParams(request: FastifyRequest, changes: Record<string, string | undefined>): string {
  const url = new URL(request.url, 'http://x');
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) url.searchParams.delete(key);
    else url.searchParams.set(key, value);
  }
  return `${url.pathname}${url.search}`;
}
