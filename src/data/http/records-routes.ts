import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedConfig } from '../../core/config.js';
import { isGroundworkError } from '../../core/errors.js';
import type { Database } from '../../db/database.js';
import type { Principal } from '../../gateway/principal.js';
import { mergeVary } from '../../net/vary.js';
import { cacheControlFor, lastModifiedOf, notModifiedSince, READ_VARY } from '../cache/http-caching.js';
import { planRead, type ReadPlan } from '../cache/read-plan.js';
import type { CachedView, RecordCache } from '../cache/record-cache.js';
import type { CollectionDef } from '../collections/collection.js';
import type { CollectionRegistry } from '../collections/collection-registry.js';
import type { GroupCommit } from '../outbox/group-commit.js';
import type { Outbox } from '../outbox/outbox.js';
import { parseListOptions, parseReadOptions } from '../records/read-options.js';
import { etagOf, ifNoneMatchHits } from '../records/record-rows.js';
import type { RecordWriter } from '../records/record-writes.js';
import { type RecordReader, recordNotFound } from '../records/records.js';
import { type AfterCommit, sendGroupedWrite, sendWrite } from './write-transaction.js';

export interface RecordRouteDeps {
  database: Database;
  registry: CollectionRegistry;
  reader: RecordReader;
  writer: RecordWriter;
  outbox: Outbox;
  /** Group commit of blind creates (src/data/outbox/group-commit.ts). */
  groupCommit: GroupCommit;
  limits: ResolvedConfig['data'];
  /** Cache-aside of reads; absent = every read goes to the database. */
  cache?: RecordCache | undefined;
  /** Cache invalidation after each write's commit. */
  afterCommit?: AfterCommit | undefined;
}

type Params = { name: string; id: string };

/**
 * `/api/v1/collections/{name}/records[/{id}]`. Access is decided per collection and operation by
 * its rules (see src/data/access/rules.ts), so the routes are declared `rules`. Reads go through
 * the collection's cache when it has one (src/data/cache) and carry its HTTP caching headers.
 */
export function registerRecordRoutes(app: FastifyInstance, deps: RecordRouteDeps) {
  const { registry, reader, writer, cache } = deps;
  const rules = { config: { access: 'rules' as const } };
  const base = '/api/v1/collections/:name/records';
  const resolve = (name: string) => registry.get(name);

  app.get<{ Params: Params }>(base, rules, async (request, reply) => {
    const def = registry.require(request.params.name);
    const query = request.query as Record<string, unknown>;
    const options = parseListOptions(query, def, resolve, deps.limits);
    const principal = request.principal;
    const plan = planRead(def, 'list', options, principal, resolve);
    const load = () => reader.list(def, options, principal);
    const result = cache ? await cache.list(def, options, principal, plan, load) : await load();
    readHeaders(reply, def, plan, principal);
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
    const { principal } = request;
    const id = request.params.id;
    const plan = planRead(def, 'view', options, principal, resolve);
    const load = async (): Promise<CachedView | undefined> => {
      let stored: Awaited<ReturnType<RecordReader['view']>>;
      try {
        stored = await reader.view(def, id, principal);
      } catch (error) {
        // Not found is an answer too (cached briefly, like a record).
        if (isGroundworkError(error) && error.code === 'DATA_ERR_RECORD_NOT_FOUND') return undefined;
        throw error;
      }
      const body = await reader.shapeOne(def, stored.record, options, principal);
      return { etag: etagOf(stored), updated: stored.record.updated, body };
    };
    const view = cache ? await cache.view(def, id, options, principal, plan, load) : await load();
    if (view === undefined) throw recordNotFound(def, id);
    reply.header('etag', view.etag);
    readHeaders(reply, def, plan, principal);
    // The ETag and update time are the record's own: with `expand`, related records shape the
    // response too, so it is never answered 304 (and has no Last-Modified).
    if (options.expand.children.size > 0) return view.body;
    reply.header('last-modified', lastModifiedOf(view.updated));
    const ifNoneMatch = header(request, 'if-none-match');
    const current =
      ifNoneMatch !== undefined
        ? ifNoneMatchHits(ifNoneMatch, view.etag)
        : notModifiedSince(header(request, 'if-modified-since'), view.updated);
    if (current) return reply.code(304).send();
    return view.body;
  });

  app.post<{ Params: Params }>(base, rules, async (request, reply) => {
    const def = registry.require(request.params.name);
    const generation = await cache?.generationBefore(def);
    // A create known in full beforehand is group-committed with its outbox row (one statement on
    // PostgreSQL, one transaction on SQLite, for every create that arrives together).
    const blind = request.idempotency
      ? undefined
      : writer.prepareBlindCreate(def, request.body, request.principal);
    if (blind) {
      return sendGroupedWrite(deps, reply, {
        table: def.name,
        row: blind.row,
        event: blind.event,
        response: {
          status: 201,
          body: blind.stored.record,
          headers: {
            etag: etagOf(blind.stored),
            location: `/api/v1/collections/${def.name}/records/${blind.stored.record.id}`,
          },
          written: [{ def, stored: blind.stored, generation }],
        },
      });
    }
    return sendWrite(deps, request, reply, async (w) => {
      const stored = await writer.create(w, def, request.body, request.principal);
      return {
        status: 201,
        body: stored.record,
        headers: {
          etag: etagOf(stored),
          location: `/api/v1/collections/${def.name}/records/${stored.record.id}`,
        },
        written: [{ def, stored, generation }],
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
        const generation = await cache?.generationBefore(def);
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
          return {
            status: 200,
            body: stored.record,
            headers: { etag: etagOf(stored) },
            written: [{ def, stored, generation }],
          };
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

/** Cache-Control and Vary of a successful read (errors keep the defaults of the error handler). */
function readHeaders(reply: FastifyReply, def: CollectionDef, plan: ReadPlan, principal: Principal): void {
  reply.header('cache-control', cacheControlFor(def, plan, principal));
  reply.header('vary', mergeVary(reply.getHeader('vary'), READ_VARY));
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
