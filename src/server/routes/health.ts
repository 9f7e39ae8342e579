import type { FastifyInstance } from 'fastify';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { Metrics } from '../../core/metrics.js';

/**
 * `/healthz`: the process is up and serving (liveness). `/readyz`: every dependency answers
 * (readiness); 503 names the failing ones. `/metrics`: Prometheus text exposition.
 * All three are public, as load balancers and scrapers call them unauthenticated; they reveal no
 * data, only states and counters.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { components: () => readonly Component[]; metrics: Metrics },
) {
  app.get('/healthz', { config: { access: 'public' } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });

  app.get('/readyz', { config: { access: 'public' } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    const checks: Record<string, string> = {};
    const failing: string[] = [];
    await Promise.all(
      deps.components().map(async (component) => {
        if (!component.check) return;
        const problem = await component.check();
        checks[component.name] = problem === undefined ? 'ok' : problem;
        if (problem !== undefined) failing.push(`${component.name}: ${problem}`);
      }),
    );
    if (failing.length > 0) {
      throw new GroundworkError('CORE_ERR_NOT_READY', {
        detail: `Not ready: ${failing.sort().join('; ')}`,
        extensions: { checks },
        headers: { 'cache-control': 'no-store' },
      });
    }
    return { status: 'ok', checks };
  });

  app.get('/metrics', { config: { access: 'public' } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store').type(deps.metrics.contentType);
    return deps.metrics.render();
  });
}
