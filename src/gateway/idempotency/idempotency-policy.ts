import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { GroundworkError } from '../../core/errors.js';
import type { AnyDb } from '../../db/database.js';
import { parseIdempotencyKey } from './idempotency-key-header.js';
import type { IdempotencyStore, StoredResponse } from './idempotency-store.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `false`: `Idempotency-Key` is ignored on this route, which runs every time. For routes whose
     * answer holds a credential (sign-in, refresh, key creation): a stored copy to replay would keep
     * the secret at rest for the key's lifetime.
     */
    idempotency?: false;
  }
}

/** Response headers that describe this delivery, not the result: never stored or replayed. */
const NOT_REPLAYED = new Set([
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'x-request-id',
  'ratelimit',
  'ratelimit-policy',
  'retry-after',
  'set-cookie',
  'strict-transport-security',
  'vary',
]);

export interface IdempotencySettings {
  methods: readonly string[];
  required: boolean;
  ttlMs: number;
  leaseMs: number;
}

/**
 * What a handler sees when its request holds an Idempotency-Key. A handler whose effect is a
 * write to Groundwork's database calls `complete(trx, …)` inside the same transaction: the stored
 * response then commits with the effect or not at all, so a crash can never leave a key that
 * replays a response for an effect that did not happen, nor an effect whose key lets it run again.
 */
export interface IdempotencyHandle {
  readonly key: string;
  /** Stores the response in the caller's transaction; returns the exact body bytes to send. */
  complete(
    trx: Kysely<AnyDb>,
    status: number,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<string>;
}

interface IdempotencyState extends IdempotencyHandle {
  readonly scope: string;
  completed: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request carries an Idempotency-Key this node now holds. */
    idempotency?: IdempotencyHandle;
  }
}

/**
 * The Idempotency-Key policy (draft-ietf-httpapi-idempotency-key-header): `preHandler` claims the
 * key, replays a stored response, or refuses (409 in flight, 422 different request, 400 missing
 * when required); `onSend` stores the response of a request that did not complete in its own
 * transaction (status < 500; a 5xx releases the key so the client may retry).
 */
export class IdempotencyPolicy {
  readonly #store: IdempotencyStore;
  readonly #clock: () => number;

  constructor(store: IdempotencyStore, clock: () => number = Date.now) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Returns true when it answered the request itself (replay or refusal). */
  async before(
    request: FastifyRequest,
    reply: FastifyReply,
    settings: IdempotencySettings,
    scope: string,
  ): Promise<boolean> {
    if (!settings.methods.includes(request.method)) return false;
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    if (key === undefined) {
      if (settings.required) {
        throw new GroundworkError('GATEWAY_ERR_IDEMPOTENCY_KEY_MISSING', {
          detail: `${request.method} requests to this route need an Idempotency-Key header.`,
        });
      }
      return false;
    }
    const fingerprint = fingerprintOf(request);
    const outcome = await this.#store.begin({
      scope,
      key,
      fingerprint,
      nowMs: this.#clock(),
      leaseMs: settings.leaseMs,
      ttlMs: settings.ttlMs,
    });
    switch (outcome.kind) {
      case 'acquired': {
        const store = this.#store;
        const state: IdempotencyState = {
          key,
          scope,
          completed: false,
          async complete(trx, status, body, headers = {}) {
            const text = JSON.stringify(body);
            const stored: StoredResponse = {
              status,
              headers: { 'content-type': 'application/json; charset=utf-8', ...lower(headers) },
              body: Buffer.from(text),
            };
            if (await store.complete(scope, key, stored, trx)) state.completed = true;
            return text;
          },
        };
        request.idempotency = state;
        return false;
      }
      case 'completed':
        await reply
          .code(outcome.response.status)
          .headers(outcome.response.headers)
          .header('idempotent-replayed', 'true')
          .send(outcome.response.body);
        return true;
      case 'in-progress':
        throw new GroundworkError('GATEWAY_ERR_IDEMPOTENCY_IN_PROGRESS', {
          detail: 'A request with this Idempotency-Key is still being processed; retry later.',
          headers: { 'retry-after': '1' },
        });
      case 'mismatch':
        throw new GroundworkError('GATEWAY_ERR_IDEMPOTENCY_KEY_REUSED', {
          detail: 'This Idempotency-Key was used for a different request (method, path or body).',
        });
    }
  }

  /** onSend: store (or release) what the handler did not complete transactionally. */
  async after(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<void> {
    const state = request.idempotency as IdempotencyState | undefined;
    if (!state || state.completed) return;
    state.completed = true;
    const status = reply.statusCode;
    const body =
      typeof payload === 'string' ? Buffer.from(payload) : Buffer.isBuffer(payload) ? payload : undefined;
    if (status >= 500 || body === undefined) {
      // A server failure (no effect assumed) or a streamed body (nothing to replay): let a retry run.
      await this.#store.release(state.scope, state.key);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value === undefined || NOT_REPLAYED.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    await this.#store.complete(state.scope, state.key, { status, headers, body });
  }
}

/** Method, path with query, and a hash of the body as parsed (JSON re-serialised, bytes as is). */
function fingerprintOf(request: FastifyRequest): string {
  const hash = createHash('sha256');
  hash.update(`${request.method}\n${request.url}\n`);
  const body = request.body;
  if (Buffer.isBuffer(body)) hash.update(body);
  else if (typeof body === 'string') hash.update(body);
  else hash.update(JSON.stringify(body ?? null));
  return hash.digest('base64url');
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
