/**
 * The edge's L4 mode as one lifecycle component: every configured TCP route (`edge.tcp[]`, see
 * `tcp-config.ts`), started together and drained together. Routes are independent (their own
 * listener, upstream group, health checks and limits); what they share is the metrics registry,
 * the logger and the clock.
 *
 * The routes are validated here again with `tcpRoutesSchema` (defaults filled in, so code may pass
 * a partial route), and an invalid one fails construction with `EDGE_ERR_INVALID_TCP_ROUTE` naming
 * the route and the option, before any port is bound. A route that cannot listen fails `start`
 * with `EDGE_ERR_TCP_LISTEN`, after closing the routes already started.
 */
import type { Registry } from 'prom-client';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import type { Scheduler } from '../health/scheduler.js';
import { type TcpRouteConfig, type TcpRouteInput, tcpRoutesSchema } from './tcp-config.js';
import { TcpRoute } from './tcp-route.js';

export interface TcpProxyOptions {
  /** The routes, as in the config file (`edge.tcp`); defaults are applied here. */
  readonly routes: readonly TcpRouteInput[];
  readonly registry?: Registry | undefined;
  readonly logger?: Logger | undefined;
  readonly scheduler?: Scheduler | undefined;
}

/** Validates `routes` with the schema (defaults filled in); throws `EDGE_ERR_INVALID_TCP_ROUTE`. */
export function parseTcpRoutes(routes: readonly TcpRouteInput[]): TcpRouteConfig[] {
  const parsed = tcpRoutesSchema.safeParse(routes);
  if (parsed.success) return parsed.data;
  const messages = parsed.error.issues.map((issue) => {
    const [index, ...rest] = issue.path;
    const raw = typeof index === 'number' ? routes[index] : undefined;
    const name = raw !== undefined && typeof raw.name === 'string' ? `"${raw.name}"` : `#${String(index)}`;
    const where = rest.length > 0 ? `.${rest.map(String).join('.')}` : '';
    return `edge.tcp route ${name}${where}: ${issue.message}`;
  });
  throw new GroundworkError('EDGE_ERR_INVALID_TCP_ROUTE', { detail: messages.join('; ') });
}

/**
 * @example
 *   const tcp = lifecycle.add(new TcpProxy({ routes: config.edge.tcp, registry: metrics.registry, logger }));
 *   await lifecycle.start();
 *   tcp.route('pg-replicas')?.port; // 6432
 */
export class TcpProxy implements Component {
  readonly name = 'edge-tcp';
  readonly #routes: TcpRoute[];
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(options: TcpProxyOptions) {
    const routeOptions = { registry: options.registry, logger: options.logger, scheduler: options.scheduler };
    this.#routes = parseTcpRoutes(options.routes).map((config) => new TcpRoute(config, routeOptions));
  }

  get routes(): readonly TcpRoute[] {
    return this.#routes;
  }

  route(name: string): TcpRoute | undefined {
    return this.#routes.find((route) => route.config.name === name);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      for (const route of this.#routes) await route.start();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Drains every route at once (each within its own `drainTimeoutMs`). */
  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#routes.map((route) => route.close())).then(() => undefined);
    return this.#closing;
  }
}
