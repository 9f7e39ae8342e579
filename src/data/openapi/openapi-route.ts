import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { CollectionRegistry } from '../collections/collection-registry.js';
import { buildOpenApi } from './openapi.js';
import type { DataLimits } from './record-parameters.js';

/**
 * `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of this instance. Admin only: it reveals
 * every collection's shape and rules. Built on the first request after a schema change (the
 * registry's onChange drops the cached text), so a burst of changes costs one build.
 */
export function registerOpenApiRoute(
  app: FastifyInstance,
  deps: { registry: Pick<CollectionRegistry, 'list' | 'onChange'>; limits?: DataLimits },
): void {
  const version = packageVersion();
  let cached: string | undefined;
  deps.registry.onChange(() => {
    cached = undefined;
  });
  app.get('/api/v1/openapi.json', { config: { access: 'admin' } }, async (_request, reply) => {
    cached ??= JSON.stringify(
      buildOpenApi(deps.registry.list(), { version, ...(deps.limits ? { limits: deps.limits } : {}) }),
    );
    return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(cached);
  });
}

/** The same file from src/ (tsx, tests) and dist/ (built): both sit three levels below the root. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
