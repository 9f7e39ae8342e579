import { randomFillSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { childContext, parseTraceparent, type TraceContext } from '../core/trace-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** This hop's W3C trace context; pass `traceparent` on to upstream calls. */
    trace: TraceContext;
  }
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request id: the caller's `X-Request-Id` when it is short and safe to log, else a new UUID (v4). */
export function genRequestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUuid();
}

// Random UUIDs (RFC 9562 version 4) from a pool of CSPRNG bytes refilled 64 KiB (4,096 ids) at a
// time: `crypto.randomUUID` refills its own cache every 128 ids, and in a server under load that
// refill showed as ~0.5 µs per request in the edge profile (bench/profile-edge.ts); the fill costs
// per call far more than per byte.
const ID_POOL = Buffer.alloc(65_536);
let idOffset = ID_POOL.length;

function randomUuid(): string {
  if (idOffset + 16 > ID_POOL.length) {
    randomFillSync(ID_POOL);
    idOffset = 0;
  }
  const at = idOffset;
  idOffset += 16;
  ID_POOL[at + 6] = (ID_POOL[at + 6]! & 0x0f) | 0x40; // version 4
  ID_POOL[at + 8] = (ID_POOL[at + 8]! & 0x3f) | 0x80; // variant 10 (RFC 9562 §4.1)
  const hex = ID_POOL.toString('hex', at, at + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Tags each request with its id and trace context: the id is echoed in `X-Request-Id`, the
 * trace id appears on every log line of the request, and `request.trace` carries the span for
 * outbound calls (`traceparent` per W3C Trace Context). The context is made on first use (a log
 * line or a read of `request.trace`), once per request: most requests need neither.
 */
export function installRequestContext(app: FastifyInstance): void {
  app.decorateRequest('trace', {
    getter(this: { raw: IncomingMessage }): TraceContext {
      return traceOf(this.raw);
    },
  });
  // Callback style: no promise and no microtask per request for a hook that never waits.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
}

const TRACE = Symbol('groundwork.trace');

/** The request's trace context, made once per request (by the request's logger, or `request.trace`). */
function traceOf(req: IncomingMessage): TraceContext {
  const holder = req as IncomingMessage & { [TRACE]?: TraceContext };
  holder[TRACE] ??= childContext(parseTraceparent(req.headers.traceparent));
  return holder[TRACE];
}

type ChildBindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];
type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };

/**
 * Fastify's `childLoggerFactory`: the request's logger, with the request id and the trace id bound.
 * Fastify asks for one per request, but a pino child with Groundwork's redaction costs several µs
 * (bench/profile-edge.ts), and at the usual levels most requests write one line or none (the access
 * line is `info`; `warn` and above are rare). So:
 *
 * - a call of a disabled level returns at once, and nothing is made;
 * - a line whose first argument is a plain object is written by the parent with the bindings put
 *   first in that object: for pino that is the very line the child would write (a child writes its
 *   bindings right after the parent's, before the object's fields), without making a child;
 * - anything else (a message string, an Error, `child()`, a level change) makes the child once, with
 *   the same bindings, and goes through it from then on.
 *
 * A logger that cannot say which levels are enabled, and a route with its own logger options
 * (`logLevel`, `logSerializers`), get the child at once.
 */
export function requestChildLogger(
  this: unknown,
  logger: FastifyBaseLogger,
  bindings: ChildBindings,
  options: ChildOptions,
  req: IncomingMessage,
): FastifyBaseLogger {
  const lazy = typeof (logger as Partial<LevelAware>).isLevelEnabled === 'function' && isEmpty(options);
  if (!lazy) return makeChild(logger, bindings, options, req);
  return new RequestLogger(logger as LevelAware, bindings, options, req) as unknown as FastifyBaseLogger;
}

function isEmpty(value: object | undefined): boolean {
  for (const _ in value) return false;
  return true;
}

function makeChild(
  logger: FastifyBaseLogger,
  bindings: ChildBindings,
  options: ChildOptions,
  req: IncomingMessage,
): FastifyBaseLogger {
  return logger.child({ ...bindings, traceId: traceOf(req).traceId }, options);
}

/** A request's logger whose pino child is made on the first line it writes. */
class RequestLogger {
  readonly #parent: LevelAware;
  readonly #bindings: ChildBindings;
  readonly #options: ChildOptions;
  readonly #req: IncomingMessage;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: LevelAware, bindings: ChildBindings, options: ChildOptions, req: IncomingMessage) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
    this.#req = req;
  }

  get level(): string {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: string) {
    this.#logger().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return ((this.#child as LevelAware | undefined) ?? this.#parent).isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.#write('error', args);
  }

  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }

  info(...args: unknown[]): void {
    this.#write('info', args);
  }

  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }

  silent(): void {}

  child(bindings: ChildBindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options);
  }

  #write(level: LevelName, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return;
    let logger: FastifyBaseLogger | undefined = this.#child;
    const fields = args[0];
    if (logger === undefined && this.#mergeable(fields)) {
      logger = this.#parent;
      args[0] = { ...this.#bindings, traceId: traceOf(this.#req).traceId, ...fields };
    } else {
      logger = this.#logger();
    }
    (logger[level] as (...a: unknown[]) => void).apply(logger, args);
  }

  /** A plain object that does not itself carry a bound field (the child's line would repeat it). */
  #mergeable(fields: unknown): fields is Record<string, unknown> {
    if (typeof fields !== 'object' || fields === null || Object.getPrototypeOf(fields) !== Object.prototype) {
      return false;
    }
    if (Object.hasOwn(fields, 'traceId')) return false;
    for (const name in this.#bindings) if (Object.hasOwn(fields, name)) return false;
    return true;
  }

  #logger(): FastifyBaseLogger {
    this.#child ??= makeChild(this.#parent, this.#bindings, this.#options, this.#req);
    return this.#child;
  }
}
