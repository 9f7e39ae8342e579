/**
 * Where a proxied response goes: the client's response, written as the upstream's head and body
 * chunks arrive (nothing is buffered; `write` returning false pauses the upstream until `drain`).
 *
 * - `RawResponseSink`: a bare Node response, for routes that bypass Fastify and the gateway. Errors
 *   are written as problem+json here.
 * - `FastifyResponseSink`: a route behind the gateway. Errors before the head go through
 *   `reply.send(error)`, so Fastify's error handler and every `onSend` hook apply as on any route.
 *   A successful response is written on the raw response after `reply.hijack()` (Fastify's stream
 *   path would add a stream, a pipe and the hooks' promises to every chunk of every response); the
 *   headers the pipeline already set on the reply (request id, CORS, RateLimit) are merged in, and
 *   the two things the `onSend` hooks would add are added here: the gateway's security headers
 *   (where the upstream set none of its own) and HSTS on TLS. A request holding an Idempotency-Key
 *   (`request.idempotency`) takes Fastify's stream path instead, so the gateway's `onSend` sees the
 *   response and releases the key (a streamed body is never stored for replay).
 */
import type { ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GroundworkError } from '../../core/errors.js';
import { defaultSecurityHeaders } from '../../gateway/security-headers.js';
import { problemResponse } from './proxy-errors.js';

export type ResponseHeaders = Record<string, string | string[]>;

export interface ResponseSink {
  /** Sends the response head; false when it could not be written (the headers were refused). */
  head(status: number, headers: ResponseHeaders): boolean;
  /** Writes a body chunk; false asks the caller to pause until `onDrain`. */
  write(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  end(): void;
  /** Cuts a response whose head was sent (the upstream failed mid-body). */
  abort(error: Error): void;
  /** Answers with an error (no head sent yet). */
  fail(error: GroundworkError): void;
  /** `callback` runs once if the client goes away before the response has finished. */
  onClose(callback: () => void): void;
}

/** A Node response (HTTP/1.1, or HTTP/2 through the compatibility API). */
type RawResponse = ServerResponse;

export class RawResponseSink implements ResponseSink {
  readonly #res: RawResponse;

  constructor(res: RawResponse) {
    this.#res = res;
  }

  head(status: number, headers: ResponseHeaders): boolean {
    try {
      this.#res.writeHead(status, headers);
      return true;
    } catch {
      return false;
    }
  }

  write(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }

  onDrain(resume: () => void): void {
    this.#res.once('drain', resume);
  }

  end(): void {
    this.#res.end();
  }

  abort(error: Error): void {
    this.#res.destroy(error);
  }

  fail(error: GroundworkError): void {
    const res = this.#res;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const { status, headers, body } = problemResponse(error);
    res.writeHead(status, headers);
    res.end(body);
  }

  onClose(callback: () => void): void {
    const res = this.#res;
    // `on`, not `once`: a response closes once, and `once` would wrap the listener per request.
    res.on('close', () => {
      if (!res.writableFinished) callback();
    });
  }
}

export interface FastifySinkOptions {
  /** `gateway.securityHeaders.enabled`. */
  readonly securityHeaders: boolean;
  /** The listener is TLS and `server.tls.hstsMaxAgeS` > 0: the HSTS value to send, else undefined. */
  readonly hsts: string | undefined;
}

export class FastifyResponseSink implements ResponseSink {
  readonly #reply: FastifyReply;
  readonly #request: FastifyRequest;
  readonly #options: FastifySinkOptions;
  readonly #res: RawResponse;
  #stream: PassThrough | undefined;

  constructor(request: FastifyRequest, reply: FastifyReply, options: FastifySinkOptions) {
    this.#request = request;
    this.#reply = reply;
    this.#options = options;
    this.#res = reply.raw as RawResponse;
  }

  head(status: number, headers: ResponseHeaders): boolean {
    const reply = this.#reply;
    const set = reply.getHeaders();
    const contentType = headers['content-type'];
    const secure = this.#options.securityHeaders
      ? defaultSecurityHeaders(typeof contentType === 'string' ? contentType : undefined)
      : undefined;
    if (this.#request.idempotency !== undefined) {
      // Fastify's stream path: the gateway's onSend hook sees the response and releases the key.
      const stream = new PassThrough();
      this.#stream = stream;
      try {
        reply
          .code(status)
          .headers(mergedHeaders(headers, set, secure, this.#options.hsts))
          .send(stream);
      } catch {
        return false;
      }
      return true;
    }
    reply.hijack();
    try {
      this.#res.writeHead(status, mergedHeaderList(headers, set, secure, this.#options.hsts));
      return true;
    } catch {
      this.#res.destroy();
      return false;
    }
  }

  write(chunk: Buffer): boolean {
    return this.#stream !== undefined ? this.#stream.write(chunk) : this.#res.write(chunk);
  }

  onDrain(resume: () => void): void {
    (this.#stream ?? this.#res).once('drain', resume);
  }

  end(): void {
    if (this.#stream !== undefined) this.#stream.end();
    else this.#res.end();
  }

  abort(error: Error): void {
    if (this.#stream !== undefined) this.#stream.destroy(error);
    this.#res.destroy(error);
  }

  fail(error: GroundworkError): void {
    if (this.#reply.sent || this.#res.headersSent) {
      this.#res.destroy();
      return;
    }
    this.#reply.send(error);
  }

  onClose(callback: () => void): void {
    const res = this.#res;
    // `on`, not `once`: a response closes once, and `once` would wrap the listener per request.
    res.on('close', () => {
      if (!res.writableFinished) callback();
    });
  }
}

function join(value: string | string[]): string {
  return typeof value === 'string' ? value : value.join(', ');
}

type ReplyHeaders = ReturnType<FastifyReply['getHeaders']>;

function replyValue(value: string | number | string[]): string | string[] {
  return typeof value === 'number' ? String(value) : value;
}

/**
 * The upstream's headers with the reply's (request id, CORS, RateLimit) over them (`Vary` values
 * joined), the security headers the response has none of, and HSTS: as an object, edited in place.
 */
function mergedHeaders(
  headers: ResponseHeaders,
  set: ReplyHeaders,
  secure: Readonly<Record<string, string>> | undefined,
  hsts: string | undefined,
): ResponseHeaders {
  for (const name in set) {
    const value = set[name];
    if (value === undefined) continue;
    const existing = headers[name];
    if (name === 'vary' && existing !== undefined) headers.vary = `${join(existing)}, ${String(value)}`;
    else headers[name] = replyValue(value);
  }
  if (secure !== undefined) {
    for (const name in secure) if (headers[name] === undefined) headers[name] = secure[name]!;
  }
  if (hsts !== undefined) headers['strict-transport-security'] = hsts;
  return headers;
}

/**
 * The same fields as `mergedHeaders`, as the flat `[name, value, …]` list `writeHead` also takes:
 * reading the upstream's object and appending to an array, where adding the reply's and the security
 * fields to the object costs a property transition each (the object goes past V8's fast-property
 * limit for keyed stores). Fields keep the upstream's order; the others follow it.
 */
function mergedHeaderList(
  headers: ResponseHeaders,
  set: ReplyHeaders,
  secure: Readonly<Record<string, string>> | undefined,
  hsts: string | undefined,
): (string | string[])[] {
  const list: (string | string[])[] = [];
  for (const name in headers) {
    if (set[name] !== undefined || (hsts !== undefined && name === 'strict-transport-security')) continue;
    list.push(name, headers[name]!);
  }
  for (const name in set) {
    const value = set[name];
    if (value === undefined) continue;
    const existing = headers[name];
    if (name === 'vary' && existing !== undefined) list.push(name, `${join(existing)}, ${String(value)}`);
    else list.push(name, replyValue(value));
  }
  if (secure !== undefined) {
    for (const name in secure) {
      if (headers[name] === undefined && set[name] === undefined) list.push(name, secure[name]!);
    }
  }
  if (hsts !== undefined) list.push('strict-transport-security', hsts);
  return list;
}
