import type { FastifyInstance } from 'fastify';
import type { CollectionDef } from '../collections/collection.js';
import type { CollectionRegistry } from '../collections/collection-registry.js';

/**
 * `/api/v1/collections`: define, inspect, change and drop collections. Admin only: a collection's
 * definition reveals its rules and shape.
 */
export function registerCollectionRoutes(app: FastifyInstance, deps: { registry: CollectionRegistry }) {
  const { registry } = deps;
  const admin = { config: { access: 'admin' as const } };

  app.get('/api/v1/collections', admin, async () => ({ items: registry.list().map(present) }));

  app.post('/api/v1/collections', admin, async (request, reply) => {
    const def = await registry.create(request.body);
    return reply.code(201).header('location', `/api/v1/collections/${def.name}`).send(present(def));
  });

  app.get<{ Params: { name: string } }>('/api/v1/collections/:name', admin, async (request) =>
    present(registry.require(request.params.name)),
  );

  app.patch<{ Params: { name: string } }>('/api/v1/collections/:name', admin, async (request) =>
    present(await registry.update(request.params.name, request.body ?? {})),
  );

  app.delete<{ Params: { name: string } }>('/api/v1/collections/:name', admin, async (request, reply) => {
    await registry.delete(request.params.name);
    return reply.code(204).send();
  });
}

function present(def: CollectionDef) {
  return {
    name: def.name,
    type: def.type,
    fields: def.fields,
    indexes: def.indexes,
    rules: def.rules,
    ...(def.cache === undefined ? {} : { cache: def.cache }),
    created: def.created,
    updated: def.updated,
  };
}
