// Shared by the Node peers of bench/edge-proxy.ts: command-line arguments and the scenario's
// policies as each peer implements them by hand where it has no plugin for them.
//
//   node PEER.mjs --port P --upstreams http://127.0.0.1:A,http://127.0.0.1:B [--policies]
//
// Routing: only paths under `/up/` are proxied, with the prefix stripped (`/up/healthz` → `/healthz`);
// anything else is 404. `--policies` turns on scenario (b): a per-client-IP rate limit whose limit is
// never reached (what is measured is its cost, not refusals) and one request header set upstream.
import { parseArgs } from 'node:util';

export const PREFIX = '/up';
/** The header every proxy sets on requests in the policies scenario (the upstream echoes it at /bench-header). */
export const TRANSFORM_HEADER = 'x-bench-transform';
export const TRANSFORM_VALUE = '1';
/** Requests allowed per client IP per window: high enough that the benchmark is never refused. */
export const RATE_LIMIT = 1_000_000_000;
export const RATE_WINDOW_MS = 60_000;

export function peerArgs() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      upstreams: { type: 'string' },
      policies: { type: 'boolean', default: false },
    },
  });
  const port = Number(values.port);
  const upstreams = (values.upstreams ?? '').split(',').filter((u) => u !== '');
  if (!Number.isInteger(port) || port <= 0 || upstreams.length === 0) {
    throw new Error('usage: --port P --upstreams URL[,URL…] [--policies]');
  }
  return { port, upstreams, policies: values.policies };
}

/**
 * A fixed-window counter per client IP, for the peers without a rate-limit plugin (http-proxy and
 * the minimal undici proxy): the least any rate limit does per request (one clock read, one map
 * lookup, one increment). Windows of idle clients are never swept: fine for a benchmark.
 */
export function fixedWindowLimiter(limit = RATE_LIMIT, windowMs = RATE_WINDOW_MS) {
  const windows = new Map();
  return (ip) => {
    const now = Date.now();
    let entry = windows.get(ip);
    if (entry === undefined || now - entry.start >= windowMs) {
      entry = { start: now, count: 0 };
      windows.set(ip, entry);
    }
    entry.count++;
    return entry.count <= limit;
  };
}

/** Exits on SIGTERM after `close` (the benchmark stops every peer by PID). */
export function exitOnSigterm(close) {
  process.once('SIGTERM', () => {
    Promise.resolve(close()).finally(() => process.exit(0));
  });
}
