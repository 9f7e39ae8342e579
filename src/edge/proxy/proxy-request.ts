/**
 * Proxying one request: fault injection, then tries on targets of the route's group until one
 * yields a response head, streamed to the client as it arrives.
 *
 * **Streaming.** The request body is piped to the try's connection (through a `PassThrough` that is
 * connected only when undici has a socket and starts writing, so a try that never connected has
 * not consumed a byte, and so undici's abort destroys the pass-through, not the client's request).
 * The response is written chunk by chunk from undici's `onData`; when the client's socket is full,
 * `onData` returns false, which stops reading from the upstream socket until `drain`. Nothing is
 * buffered beyond the sockets' own buffers.
 *
 * **Tries.** Each try is one undici dispatch with a timeout (`timeouts.tryMs`, cut to what is left
 * of `timeouts.totalMs`; tries of the full `tryMs` share one timer per length, see `TimeoutQueue`).
 * A try ends in one `UpstreamOutcome`: `connect-failure` when undici never started writing the
 * request (`onConnect` not called), `timeout`, `reset` (any other error before the head) or
 * `response`. Each outcome goes to the target's circuit breaker (through the permit) and to
 * outlier detection. A failed try is retried on another target (the tried ones are excluded) when
 * `isRetryable` says the method and outcome allow it, the body is replayable (none, or not yet read),
 * tries remain, time remains and the group's retry budget has room; a retryable status (502/503/504
 * by default) is retried the same way and its body discarded. Otherwise the client gets the
 * upstream's response as it is, or 502/503/504 problem+json for a failure.
 *
 * **After the head**, nothing is retried: an upstream error mid-body cuts the client's response, and
 * a client that goes away aborts the upstream request. Every try ends its pick exactly once (balancer
 * accounting, in-flight count, latency, drain slot), whichever way it ends.
 *
 * undici's legacy handler API (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`) is used on
 * purpose: it is what undici 7 runs natively (its `stream()` uses it); the newer controller API is an
 * adapter on top that parses every header list into an object first.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { GroundworkError } from '../../core/errors.js';
import { isRetryable } from '../health/retry-budget.js';
import {
  CONNECT_FAILURE,
  RESET,
  responseOutcome,
  TIMEOUT,
  type UpstreamOutcome,
} from '../health/upstream-outcome.js';
import type { CompiledRoute } from '../routing/route-table.js';
import type { TargetPick, UpstreamGroup } from '../upstream/upstream-group.js';
import { decideFault, injectedFault } from './fault-injection.js';
import { downstreamResponseHeaders, UPSTREAM_HOST_INDEX } from './forwarding-headers.js';
import { badResponse, noHealthyUpstream, outcomeError } from './proxy-errors.js';
import type { ResponseSink } from './response-sink.js';
import { QueuedTimeout, TimeoutQueue } from './timeout-queue.js';

export interface ProxyInput {
  readonly route: CompiledRoute;
  readonly group: UpstreamGroup;
  /** The client's request (HTTP/1.1, or HTTP/2 through the compatibility API). */
  readonly req: IncomingMessage;
  readonly sink: ResponseSink;
  /** Path and query to request from the target, before the target's base path. */
  readonly path: string;
  /**
   * `[name, value, …]` for undici (`upstreamRequestHeaders`): `host` first, its value rewritten per
   * target unless the group preserves the client's.
   */
  readonly headers: string[];
  /** The request has a body to stream (Content-Length > 0, Transfer-Encoding, or HTTP/2 DATA). */
  readonly hasBody: boolean;
  /** The client's IP, when known (the balancer hashes it only for ip-hash, consistent-hash, maglev). */
  readonly clientIp: string | undefined;
  readonly hashKey: string | undefined;
  /** Value of the group's sticky cookie in the request, if any. */
  readonly stickyCookie: string | undefined;
  /** `Via` entry for the response ('' for none). */
  readonly via: string;
  /** Uniform in [0, 1), for fault injection. */
  readonly random: () => number;
  /** `Date.now()` when the request reached the edge (the total timeout counts from here). */
  readonly startedMs: number;
}

enum TryState {
  /** Dispatched; undici has not started writing it. */
  Queued,
  /** The request is being (or has been) written. */
  Sent,
  /** Its response head was accepted and is being streamed to the client. */
  Streaming,
  /** Its response head was a retryable status: the body is read and dropped. */
  Discarding,
  /** Over: completed, failed, timed out or aborted. Later callbacks are ignored. */
  Done,
}

/** Why this side aborted a try (passed to undici's abort, recognised in `onError`). */
class TryAborted extends Error {
  constructor(readonly reason: 'timeout' | 'client-gone' | 'superseded') {
    super(`proxy try aborted: ${reason}`);
  }
}

/**
 * The per-try timeouts of the usual length (`timeouts.tryMs`), one queue per length (few distinct
 * values: one per route configuration at most). A shorter try (a retry near the total deadline)
 * gets a timer of its own.
 */
const tryTimeouts = new Map<number, TimeoutQueue>();

function tryTimeoutQueue(durationMs: number): TimeoutQueue {
  let queue = tryTimeouts.get(durationMs);
  if (queue === undefined) {
    queue = new TimeoutQueue(durationMs);
    tryTimeouts.set(durationMs, queue);
  }
  return queue;
}

/** One dispatch to one target: undici's handler, delegating decisions to its `ProxyRequest`. */
class UpstreamTry extends QueuedTimeout implements Dispatcher.DispatchHandler {
  state = TryState.Queued;
  abort: ((error?: Error) => void) | undefined;
  /** The try's own timer, when its timeout is not in a shared queue. */
  timer: NodeJS.Timeout | undefined;
  /** Set when this side gave up on the try before undici's `onConnect`: abort it there. */
  cancelled: TryAborted | undefined;
  outcomeReported = false;
  resume: (() => void) | undefined;
  body: PassThrough | undefined;
  /** The response status, once a head arrived. */
  status = 0;

  constructor(
    readonly owner: ProxyRequest,
    readonly pick: TargetPick,
    readonly startedMs: number,
  ) {
    super();
  }

  /** The try timeout elapsed. */
  expire(): void {
    this.owner.timedOut(this);
  }

  stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    else this.cancel();
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.cancelled !== undefined) {
      abort(this.cancelled);
      return;
    }
    this.abort = abort;
    if (this.state === TryState.Queued) {
      this.state = TryState.Sent;
      this.owner.connected(this);
    }
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (status < 200) return true; // 1xx informational: not forwarded (Node answered 100 itself)
    this.resume = resume;
    this.status = status;
    return this.owner.headers(this, status, rawHeaders);
  }

  onData(chunk: Buffer): boolean {
    if (this.state !== TryState.Streaming) return true;
    return this.owner.data(this, chunk);
  }

  onComplete(): void {
    this.owner.complete(this);
  }

  onError(error: Error): void {
    this.owner.failed(this, error);
  }
}

const NO_PARAMS_EXCLUDE: ReadonlySet<string> = new Set();

/**
 * @example
 *   new ProxyRequest({ route, group, req, sink: new RawResponseSink(res), path, headers, … }).start();
 */
export class ProxyRequest {
  readonly #in: ProxyInput;
  readonly #deadlineMs: number;
  #tries = 0;
  /** The first target tried; most requests never retry, so the set below is made only for a retry. */
  #firstTried: string | undefined;
  /** Every target tried, once a retry needs to exclude them. */
  #tried: Set<string> | undefined;
  #current: UpstreamTry | undefined;
  /** A try has started writing the request body: it cannot be replayed any more. */
  #bodyTouched = false;
  #finished = false;
  #delayTimer: NodeJS.Timeout | undefined;

  constructor(input: ProxyInput) {
    this.#in = input;
    this.#deadlineMs = input.startedMs + input.route.config.timeouts.totalMs;
  }

  start(): void {
    const input = this.#in;
    input.sink.onClose(() => this.#clientGone());
    const fault = decideFault(input.route.config.fault, input.random);
    if (fault.delayMs > 0) {
      this.#delayTimer = setTimeout(() => {
        this.#delayTimer = undefined;
        this.#afterDelay(fault.abortStatus);
      }, fault.delayMs);
      return;
    }
    this.#afterDelay(fault.abortStatus);
  }

  #afterDelay(abortStatus: number | undefined): void {
    if (this.#finished) return;
    if (abortStatus !== undefined) {
      this.#fail(injectedFault(abortStatus));
      return;
    }
    this.#in.group.budget.recordRequest();
    const pick = this.#pick();
    if (pick === undefined) {
      this.#fail(noHealthyUpstream());
      return;
    }
    this.#send(pick);
  }

  #pick(): TargetPick | undefined {
    const input = this.#in;
    return input.group.pick({
      clientIp: input.clientIp,
      hashKey: input.hashKey,
      stickyCookie: input.stickyCookie,
      exclude: this.#excluded(),
    });
  }

  #excluded(): ReadonlySet<string> {
    if (this.#tried !== undefined) return this.#tried;
    if (this.#firstTried === undefined) return NO_PARAMS_EXCLUDE;
    this.#tried = new Set([this.#firstTried]);
    return this.#tried;
  }

  #send(pick: TargetPick): void {
    const input = this.#in;
    const target = pick.target;
    this.#tries++;
    if (this.#tries > 1) target.stats.retries++;
    if (this.#tried !== undefined) this.#tried.add(target.id);
    else if (this.#firstTried === undefined) this.#firstTried = target.id;
    else this.#tried = new Set([this.#firstTried, target.id]);
    const now = Date.now();
    const attempt = new UpstreamTry(this, pick, now);
    this.#current = attempt;
    const timeouts = input.route.config.timeouts;
    const tryMs = Math.max(1, Math.min(timeouts.tryMs, this.#deadlineMs - now));
    if (tryMs === timeouts.tryMs) tryTimeoutQueue(tryMs).add(attempt, now);
    else attempt.timer = setTimeout(() => this.timedOut(attempt), tryMs);
    const headers = input.headers;
    if (!input.group.config.preserveHost || headers[UPSTREAM_HOST_INDEX] === '') {
      headers[UPSTREAM_HOST_INDEX] = target.authority;
    }
    if (input.hasBody) attempt.body = new PassThrough();
    try {
      target.pool.dispatch(
        {
          origin: target.origin,
          path: target.basePath + input.path,
          method: input.req.method as Dispatcher.HttpMethod,
          headers,
          body: attempt.body ?? null,
          headersTimeout: 0,
          bodyTimeout: timeouts.idleMs,
        },
        attempt,
      );
    } catch (error) {
      this.failed(attempt, error as Error);
    }
  }

  /** undici started writing the request on a connection: connect the body now. */
  connected(attempt: UpstreamTry): void {
    if (attempt.body !== undefined) {
      this.#bodyTouched = true;
      this.#in.req.pipe(attempt.body);
    }
  }

  headers(attempt: UpstreamTry, status: number, rawHeaders: Buffer[]): boolean {
    if (attempt.state === TryState.Done || attempt.state === TryState.Discarding) return true;
    attempt.stopTimer();
    const outcome = responseOutcome(status);
    this.#report(attempt, outcome);
    const group = this.#in.group;
    if (this.#finished) {
      // The client went away while the try was on its way: drop the response.
      attempt.state = TryState.Discarding;
      return true;
    }
    if (this.#in.route.retryStatuses.has(status)) {
      const next = this.#retryPick(outcome);
      if (next !== undefined) {
        attempt.state = TryState.Discarding;
        this.#send(next);
        return true;
      }
    }
    const headers = downstreamResponseHeaders(rawHeaders, this.#in.via);
    this.#in.route.responseTransform?.(headers);
    const setCookie = attempt.pick.setCookie;
    if (setCookie !== undefined && group.config.sticky !== undefined) {
      addSetCookie(headers, stickyCookieHeader(group.config.sticky, setCookie));
    }
    if (!this.#in.sink.head(status, headers)) {
      attempt.state = TryState.Discarding;
      this.#finished = true;
      this.#in.sink.fail(badResponse(undefined));
      attempt.abort?.(new TryAborted('superseded'));
      return true;
    }
    attempt.state = TryState.Streaming;
    this.#finished = true;
    return true;
  }

  data(attempt: UpstreamTry, chunk: Buffer): boolean {
    const sink = this.#in.sink;
    if (sink.write(chunk)) return true;
    sink.onDrain(() => attempt.resume?.());
    return false;
  }

  complete(attempt: UpstreamTry): void {
    const state = attempt.state;
    if (state === TryState.Done) return;
    attempt.state = TryState.Done;
    attempt.stopTimer();
    if (state === TryState.Streaming) this.#in.sink.end();
    this.#endTry(attempt, attempt.status < 500);
  }

  failed(attempt: UpstreamTry, error: Error): void {
    const state = attempt.state;
    if (state === TryState.Done) return;
    attempt.state = TryState.Done;
    attempt.stopTimer();
    const stats = attempt.pick.target.stats;
    if (state === TryState.Streaming) {
      // The head went out: the response can only be cut.
      if (!(error instanceof TryAborted)) {
        stats.errors.body++;
        this.#in.sink.abort(error);
      }
      this.#endTry(attempt, error instanceof TryAborted);
      return;
    }
    if (state === TryState.Discarding) {
      this.#endTry(attempt, attempt.status < 500);
      return;
    }
    const aborted = error instanceof TryAborted ? error : attempt.cancelled;
    if (aborted?.reason === 'client-gone' || aborted?.reason === 'superseded') {
      attempt.pick.permit?.release();
      attempt.outcomeReported = true;
      this.#endTry(attempt, true);
      return;
    }
    const outcome: UpstreamOutcome =
      aborted?.reason === 'timeout' || (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT'
        ? TIMEOUT
        : state === TryState.Queued
          ? CONNECT_FAILURE
          : RESET;
    this.#report(attempt, outcome);
    this.#endTry(attempt, false);
    if (this.#finished) return;
    const next = this.#retryPick(outcome);
    if (next !== undefined) {
      this.#send(next);
      return;
    }
    this.#fail(
      outcome === TIMEOUT && this.#deadlineMs <= Date.now()
        ? outcomeError(TIMEOUT, error)
        : outcomeError(outcome, aborted === undefined ? error : undefined),
    );
  }

  /** @internal The try's timeout elapsed (from `UpstreamTry.expire` or its own timer). */
  timedOut(attempt: UpstreamTry): void {
    if (attempt.state === TryState.Done) return;
    const reason = new TryAborted('timeout');
    if (attempt.abort !== undefined) {
      attempt.abort(reason); // undici calls onError synchronously → failed()
      if ((attempt.state as TryState) !== TryState.Done) this.failed(attempt, reason);
      return;
    }
    // Still queued for a connection: undici will hand it over later; abort it then.
    attempt.cancelled = reason;
    this.failed(attempt, reason);
  }

  #clientGone(): void {
    if (this.#delayTimer !== undefined) clearTimeout(this.#delayTimer);
    this.#finished = true;
    const attempt = this.#current;
    if (attempt === undefined || attempt.state === TryState.Done) return;
    const reason = new TryAborted('client-gone');
    if (attempt.abort !== undefined) {
      attempt.abort(reason);
      if ((attempt.state as TryState) !== TryState.Done) this.failed(attempt, reason);
    } else {
      attempt.cancelled = reason;
      this.failed(attempt, reason);
    }
  }

  /** The next target for a retry of a try that ended with `outcome`, or undefined. */
  #retryPick(outcome: UpstreamOutcome): TargetPick | undefined {
    const input = this.#in;
    if (this.#tries >= input.route.config.retries.maxTries) return undefined;
    if (input.hasBody && (this.#bodyTouched || outcome.kind !== 'connect-failure')) return undefined;
    if (this.#deadlineMs - Date.now() <= 0) return undefined;
    if (!isRetryable(input.req.method ?? 'GET', input.req.headers, outcome, input.route.retryStatuses)) {
      return undefined;
    }
    const budget = input.group.budget;
    if (!budget.canRetry()) return undefined;
    const next = this.#pick();
    if (next !== undefined) budget.recordRetry();
    return next;
  }

  #report(attempt: UpstreamTry, outcome: UpstreamOutcome): void {
    if (attempt.outcomeReported) return;
    attempt.outcomeReported = true;
    const { target, permit } = attempt.pick;
    permit?.report(outcome);
    this.#in.group.record(target, outcome);
    if (outcome.kind === 'response') target.stats.status(outcome.status);
    else target.stats.failure(outcome.kind);
  }

  #endTry(attempt: UpstreamTry, ok: boolean): void {
    if (!attempt.outcomeReported) {
      attempt.outcomeReported = true;
      attempt.pick.permit?.release();
    }
    this.#in.group.end(attempt.pick, Date.now() - attempt.startedMs, ok);
  }

  #fail(error: GroundworkError): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#in.sink.fail(error);
  }
}

/** `Set-Cookie` for a sticky pin: HttpOnly, SameSite=Lax, Path=/, Max-Age and Secure as configured. */
function stickyCookieHeader(
  sticky: { cookie: string; maxAgeS: number; secure: boolean },
  value: string,
): string {
  let cookie = `${sticky.cookie}=${value}; Path=/; HttpOnly; SameSite=Lax`;
  if (sticky.maxAgeS > 0) cookie += `; Max-Age=${sticky.maxAgeS}`;
  if (sticky.secure) cookie += '; Secure';
  return cookie;
}

function addSetCookie(headers: Record<string, string | string[]>, cookie: string): void {
  const existing = headers['set-cookie'];
  if (existing === undefined) headers['set-cookie'] = cookie;
  else if (typeof existing === 'string') headers['set-cookie'] = [existing, cookie];
  else existing.push(cookie);
}
