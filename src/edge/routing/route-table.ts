/**
 * The edge's routes, compiled once from `edge.routes` and matched per request, first match wins:
 * host, path (prefix or pattern), method and headers. The same table serves both ways in: routes
 * registered with Fastify (which has already matched the path shape; the table then decides host,
 * method and headers among the routes sharing that shape) and routes served before Fastify
 * (`bypassGateway`), where the table does all the matching.
 *
 * Paths are matched as the client sent them (before `?`, not percent-decoded), the same bytes that
 * go upstream, so what the route allows is what the upstream receives. Paths with dot segments
 * (`/a/../b`, also percent-encoded) are refused by `hasDotSegment` before matching: an upstream
 * that normalises them would otherwise serve a path outside the route's prefix.
 */
import { GroundworkError } from '../../core/errors.js';
import type { EdgeRouteConfig } from '../edge-config.js';
import {
  compileRequestTransform,
  compileResponseTransform,
  type RequestHeaderTransform,
  type ResponseHeaderTransform,
} from '../proxy/header-transform.js';
import { compileHost, type HostMatcher } from './host-match.js';
import { compilePathPattern, type PathPattern } from './path-pattern.js';

/** Methods a route without `methods` accepts, and every method the edge registers with Fastify. */
export const PROXIED_METHODS: readonly string[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
];

export interface CompiledRoute {
  readonly index: number;
  readonly name: string;
  readonly config: EdgeRouteConfig;
  /** The prefix without a trailing slash (`''` for `/`); undefined for pattern routes. */
  readonly prefix: string | undefined;
  readonly pattern: PathPattern | undefined;
  /** The Fastify URLs that cover this route's paths. */
  readonly fastifyUrls: readonly string[];
  readonly methods: ReadonlySet<string>;
  readonly host: HostMatcher | undefined;
  readonly headers: readonly HeaderTest[];
  /** `retries.statuses` as a set. */
  readonly retryStatuses: ReadonlySet<number>;
  /** `transform.request`, compiled; undefined when the route edits no request header. */
  readonly requestTransform: RequestHeaderTransform | undefined;
  /** `transform.response`, compiled; undefined when the route edits no response header. */
  readonly responseTransform: ResponseHeaderTransform | undefined;
}

interface HeaderTest {
  readonly name: string;
  test(value: string | string[] | undefined): boolean;
}

/** What the table reads of a request. */
export interface RouteRequest {
  readonly method: string;
  /** The request path, without the query. */
  readonly path: string;
  /** Host without port, lower case; undefined when the request has none. */
  readonly host: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface RouteMatch {
  readonly route: CompiledRoute;
  /** Values of the pattern's `:name` segments (raw, not decoded); empty for prefix routes. */
  readonly params: Readonly<Record<string, string>>;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

export class RouteTable {
  readonly routes: readonly CompiledRoute[];

  constructor(routes: readonly EdgeRouteConfig[]) {
    this.routes = routes.map((config, index) => compileRoute(config, index));
  }

  /** The first route that matches, or undefined. */
  match(request: RouteRequest, candidates: readonly CompiledRoute[] = this.routes): RouteMatch | undefined {
    for (const route of candidates) {
      if (!route.methods.has(request.method)) continue;
      if (route.host !== undefined && (request.host === undefined || !route.host(request.host))) continue;
      let params = NO_PARAMS;
      if (route.pattern !== undefined) {
        const found = route.pattern.match(request.path);
        if (found === undefined) continue;
        params = found;
      } else if (!prefixMatches(route.prefix!, request.path)) {
        continue;
      }
      if (!headersMatch(route.headers, request.headers)) continue;
      return { route, params };
    }
    return undefined;
  }

  /** Routes grouped by the Fastify URL that covers them, in route order within each URL. */
  byFastifyUrl(): Map<string, CompiledRoute[]> {
    const out = new Map<string, CompiledRoute[]>();
    for (const route of this.routes) {
      if (route.config.bypassGateway) continue;
      for (const url of route.fastifyUrls) {
        const list = out.get(url) ?? [];
        list.push(route);
        out.set(url, list);
      }
    }
    return out;
  }
}

/** Segment-boundary prefix test: `''` matches all; `/svc` matches `/svc` and `/svc/…`, not `/svcx`. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47; /* / */
}

/** The path sent upstream: the route's prefix removed when `stripPrefix` is set. */
export function upstreamPath(route: CompiledRoute, path: string): string {
  if (!route.config.stripPrefix || route.prefix === undefined || route.prefix === '') return path;
  const rest = path.slice(route.prefix.length);
  return rest === '' ? '/' : rest;
}

/**
 * True when a segment of `path` is `.` or `..`, literally or percent-encoded (`%2e`, `%2E`); a
 * backslash counts as a separator, as some servers treat it.
 */
export function hasDotSegment(path: string): boolean {
  if (!path.includes('.') && !path.includes('%')) return false;
  for (const raw of path.split(/[/\\]/)) {
    if (raw.length === 0 || raw.length > 6) continue;
    const segment = raw.replace(/%2e/gi, '.');
    if (segment === '.' || segment === '..') return true;
  }
  return false;
}

function compileRoute(config: EdgeRouteConfig, index: number): CompiledRoute {
  const name = config.name ?? `route-${index}`;
  const invalid = (detail: string) =>
    new GroundworkError('CONFIG_ERR_INVALID', { detail: `edge.routes[${index}] (${name}): ${detail}` });
  let prefix: string | undefined;
  let pattern: PathPattern | undefined;
  let fastifyUrls: string[];
  if (config.path !== undefined) {
    try {
      pattern = compilePathPattern(config.path);
    } catch (error) {
      throw invalid((error as Error).message);
    }
    fastifyUrls = [config.path];
  } else {
    prefix = (config.prefix ?? '/').replace(/\/+$/, '');
    if (/[:*(]/.test(prefix))
      throw invalid('a prefix cannot contain ":", "*" or "(" (use `path` for patterns)');
    fastifyUrls = prefix === '' ? ['/', '/*'] : [prefix, `${prefix}/*`];
  }
  const methods = new Set(config.methods ?? PROXIED_METHODS);
  for (const method of methods) {
    if (!PROXIED_METHODS.includes(method)) {
      throw invalid(`method ${method} cannot be proxied (allowed: ${PROXIED_METHODS.join(', ')})`);
    }
  }
  const host = config.hosts === undefined ? undefined : compileHost(config.hosts);
  const headers = Object.entries(config.headers ?? {}).map(([headerName, spec]): HeaderTest => {
    const lower = headerName.toLowerCase();
    if (typeof spec === 'string') {
      return { name: lower, test: (value) => value !== undefined && joined(value) === spec };
    }
    if ('regex' in spec) {
      const regex = new RegExp(spec.regex);
      return { name: lower, test: (value) => value !== undefined && regex.test(joined(value)) };
    }
    return { name: lower, test: (value) => (value !== undefined) === spec.present };
  });
  const retryStatuses = new Set(config.retries.statuses);
  return {
    index,
    name,
    config,
    prefix,
    pattern,
    fastifyUrls,
    methods,
    host,
    headers,
    retryStatuses,
    requestTransform: compileRequestTransform(config.transform?.request),
    responseTransform: compileResponseTransform(config.transform?.response),
  };
}

function headersMatch(
  tests: readonly HeaderTest[],
  headers: Readonly<Record<string, string | string[] | undefined>>,
): boolean {
  for (const test of tests) if (!test.test(headers[test.name])) return false;
  return true;
}

function joined(value: string | string[]): string {
  return typeof value === 'string' ? value : value.join(', ');
}
