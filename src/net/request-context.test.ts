import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../core/logger.js';
import { genRequestId, requestChildLogger } from './request-context.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A Groundwork logger (redaction and all) whose lines land in `lines`, without the time field. */
function capture(level: string) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk).replace(/"time":"[^"]*",/, ''));
      callback();
    },
  });
  const logger = createLogger(level, destination as never) as unknown as FastifyBaseLogger;
  return { logger, lines };
}

function request(traceparent?: string): IncomingMessage {
  return { headers: traceparent === undefined ? {} : { traceparent } } as unknown as IncomingMessage;
}

const lazyLogger = (logger: FastifyBaseLogger, req = request(`00-${TRACE_ID}-00f067aa0ba902b7-01`)) =>
  requestChildLogger.call(null, logger, { requestId: 'req-1' }, {}, req);

describe('requestChildLogger', () => {
  it('writes exactly the lines a pino child with the request and trace ids writes', async () => {
    const { logger, lines } = capture('info');
    const lazy = lazyLogger(logger);
    const child = logger.child({ requestId: 'req-1', traceId: TRACE_ID });
    const error = new Error('boom');
    const calls: unknown[][] = [
      [
        { method: 'GET', url: '/x?y=1', route: '/x', status: 200, durationMs: 1.5, caller: undefined },
        'request',
      ],
      [{ err: error, code: 'HTTP_ERR_INTERNAL' }, 'request failed'],
      [{ password: 'secret!', nested: { token: 't' } }, 'redacted fields'],
      [{ n: 1 }, 'interpolated %s and %d', 'text', 42],
      // A field named like a binding: the child repeats it, so the lazy logger must make the child.
      [{ requestId: 'other' }, 'same key'],
      ['a message only'],
      [error],
    ];
    for (const args of calls) {
      (lazy.info as (...a: unknown[]) => void)(...args);
      (child.info as (...a: unknown[]) => void)(...args);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(calls.length * 2);
    for (let i = 0; i < lines.length; i += 2) expect(lines[i]).toBe(lines[i + 1]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ requestId: 'req-1', traceId: TRACE_ID, msg: 'request' });
    expect(lines[4]).toContain('"password":"[REDACTED]"');
  });

  it('makes no child and reads no trace context for calls of a disabled level', async () => {
    const { logger, lines } = capture('warn');
    const child = vi.spyOn(logger, 'child');
    let headerReads = 0;
    const req = {
      get headers() {
        headerReads++;
        return { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` };
      },
    } as unknown as IncomingMessage;
    const lazy = lazyLogger(logger, req);
    lazy.info({ method: 'GET' }, 'request');
    lazy.debug('nothing');
    expect(child).not.toHaveBeenCalled();
    expect(headerReads).toBe(0);
    lazy.warn({ code: 'X' }, 'written');
    expect(child).not.toHaveBeenCalled(); // a plain object: written by the parent with the bindings
    lazy.warn('a message makes the child');
    expect(child).toHaveBeenCalledTimes(1);
    lazy.error('and reuses it');
    expect(child).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual([
      'written',
      'a message makes the child',
      'and reuses it',
    ]);
    for (const line of lines)
      expect(JSON.parse(line)).toMatchObject({ requestId: 'req-1', traceId: TRACE_ID });
  });

  it('keeps one trace id per request, new when the request has no traceparent', async () => {
    const { logger, lines } = capture('info');
    const lazy = lazyLogger(logger, request());
    lazy.info({ a: 1 }, 'first');
    lazy.info('second');
    await new Promise((resolve) => setImmediate(resolve));
    const [first, second] = lines.map((line) => JSON.parse(line) as { traceId: string });
    expect(first!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(second!.traceId).toBe(first!.traceId);
  });

  it('reports and changes its level like a pino logger', () => {
    const { logger } = capture('warn');
    const lazy = lazyLogger(logger) as FastifyBaseLogger & { isLevelEnabled(level: string): boolean };
    expect(lazy.level).toBe('warn');
    expect(lazy.isLevelEnabled('info')).toBe(false);
    lazy.level = 'debug';
    expect(lazy.level).toBe('debug');
    expect(lazy.isLevelEnabled('debug')).toBe(true);
    expect(logger.level).toBe('warn');
  });

  it('makes the child at once for route logger options (a route level)', () => {
    const { logger } = capture('warn');
    const child = vi.spyOn(logger, 'child');
    const made = requestChildLogger.call(null, logger, { requestId: 'r' }, { level: 'debug' }, request());
    expect(child).toHaveBeenCalledTimes(1);
    expect(made.level).toBe('debug');
  });
});

describe('genRequestId', () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('keeps a short, safe X-Request-Id', () => {
    expect(genRequestId({ headers: { 'x-request-id': 'abc-123:x.y_z' } } as never)).toBe('abc-123:x.y_z');
  });

  it('makes a random version-4 UUID otherwise, distinct across pool refills', () => {
    const ids = new Set<string>();
    // 10,000 ids span more than two refills of the 4,096-id pool.
    for (let i = 0; i < 10_000; i++) {
      const id = genRequestId({ headers: i % 2 === 0 ? {} : { 'x-request-id': 'a b' } } as never);
      expect(id).toMatch(UUID_V4);
      ids.add(id);
    }
    expect(ids.size).toBe(10_000);
  });
});
