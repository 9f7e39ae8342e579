/**
 * When the edge may retry a failed try on another target: `RetryBudget` bounds how much extra load
 * retries add (Finagle's / Linkerd's retry budget), `isRetryable` says whether a given request and
 * outcome may be retried at all (issue 7: idempotent methods, POST with an Idempotency-Key, and any
 * request that never left the edge).
 *
 * Budget: over a sliding window of `windowMs` (time-bucketed, see `SlidingWindowCounter`), a retry
 * is allowed while
 *
 *     retries in the window + 1 ≤ ratio × requests in the window + minRetriesPerSecond × windowMs / 1000
 *
 * so at steady load retries add at most `ratio` (default 20 %) to the upstream load, a retry storm
 * cannot amplify an outage, and a quiet route (a few requests a minute) can still retry thanks to
 * the small per-second allowance. "Requests" are first tries only (`recordRequest`); retries are
 * counted separately (`recordRetry`) and never earn budget, so retries of retries cannot snowball.
 */
import { parseIdempotencyKey } from '../../gateway/idempotency/idempotency-key-header.js';
import { checkNumber } from './options.js';
import { SlidingWindowCounter } from './sliding-window.js';
import type { UpstreamOutcome } from './upstream-outcome.js';

export interface RetryBudgetOptions {
  /** Retries allowed per first try over the window (0.2 = at most 20 % extra load). Default 0.2; 0 leaves only the minimum. */
  ratio?: number;
  /** Retries per second always allowed, so low traffic can retry. Default 10; 0 disables. */
  minRetriesPerSecond?: number;
  /** The sliding window, in ms. Default 10 000. */
  windowMs?: number;
  /** Buckets the window is cut into. Default 10. */
  windowBuckets?: number;
  /** Milliseconds; default `Date.now`. */
  clock?: () => number;
}

export interface RetryBudgetCounters {
  requests: number;
  retries: number;
  /** `canRetry`/`tryRetry` answers of no. */
  refused: number;
}

const REQUESTS = 0;
const RETRIES = 1;
/** Guards the comparison against binary rounding of `ratio × requests` (0.35 × 20 = 6.999…). */
const EPSILON = 1e-9;

/**
 * @example
 *   const budget = new RetryBudget({ ratio: 0.2 });
 *   budget.recordRequest();
 *   const outcome = await tryOnce(target);
 *   if (isRetryable(req.method, req.headers, outcome) && budget.tryRetry()) await tryOnce(other);
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetriesPerSecond: number;
  readonly windowMs: number;
  readonly #reserve: number;
  readonly #clock: () => number;
  readonly #window: SlidingWindowCounter;
  readonly #counters: RetryBudgetCounters = { requests: 0, retries: 0, refused: 0 };

  constructor(options: RetryBudgetOptions = {}) {
    const owner = 'RetryBudget';
    this.ratio = checkNumber(owner, 'ratio', options.ratio ?? 0.2, { min: 0, max: 1_000 });
    this.minRetriesPerSecond = checkNumber(owner, 'minRetriesPerSecond', options.minRetriesPerSecond ?? 10, {
      min: 0,
    });
    this.windowMs = checkNumber(owner, 'windowMs', options.windowMs ?? 10_000, { min: 1 });
    const buckets = checkNumber(owner, 'windowBuckets', options.windowBuckets ?? 10, {
      min: 1,
      max: 1_000,
      integer: true,
    });
    this.#reserve = (this.minRetriesPerSecond * this.windowMs) / 1_000;
    this.#clock = options.clock ?? Date.now;
    this.#window = new SlidingWindowCounter(this.windowMs, buckets, 2);
  }

  /** Counts a first try of a request (not a retry). */
  recordRequest(): void {
    this.#counters.requests++;
    this.#window.add(this.#clock(), REQUESTS);
  }

  /** Whether one more retry fits in the budget now. Does not spend it: see `tryRetry`. */
  canRetry(): boolean {
    const now = this.#clock();
    const ok = this.#window.total(now, RETRIES) + 1 <= this.#allowance(now) + EPSILON;
    if (!ok) this.#counters.refused++;
    return ok;
  }

  /** Counts a retry that is being sent. */
  recordRetry(): void {
    this.#counters.retries++;
    this.#window.add(this.#clock(), RETRIES);
  }

  /** `canRetry()` and, if yes, `recordRetry()`: check and spend in one step. */
  tryRetry(): boolean {
    if (!this.canRetry()) return false;
    this.recordRetry();
    return true;
  }

  /** The window now: first tries, retries, and the retries it allows in total. */
  get window(): { requests: number; retries: number; allowance: number } {
    const now = this.#clock();
    return {
      requests: this.#window.total(now, REQUESTS),
      retries: this.#window.total(now, RETRIES),
      allowance: this.#allowance(now),
    };
  }

  get counters(): Readonly<RetryBudgetCounters> {
    return { ...this.#counters };
  }

  #allowance(now: number): number {
    return this.ratio * this.#window.total(now, REQUESTS) + this.#reserve;
  }
}

/** Methods retried without an Idempotency-Key: the idempotent ones issue 7 names (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Response statuses retried by default: the gateway errors, which say the target did not do the work. */
export const DEFAULT_RETRY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** Request headers as Node gives them (lower-case names). */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Whether the request may be sent again to another target, given how this try ended:
 * - `connect-failure`: yes, for **any** method: no byte of the request reached an upstream.
 * - `timeout`, `reset`: only if the request is idempotent (`isIdempotentRequest`): the upstream may
 *   have received and processed it, so repeating it must be harmless.
 * - `response`: only if the status is in `retryStatuses` (default 502, 503, 504) **and** the request
 *   is idempotent. A 500 is the application's answer and is passed to the client as is; 4xx never.
 *
 * Not decided here, and required of the proxy too: the request body can be replayed (it was empty
 * or is still buffered), no response byte has been sent to the client, the overall deadline leaves
 * time, and the budget allows it (`RetryBudget.tryRetry`).
 */
export function isRetryable(
  method: string,
  headers: RequestHeaders,
  outcome: UpstreamOutcome,
  retryStatuses: ReadonlySet<number> = DEFAULT_RETRY_STATUSES,
): boolean {
  if (outcome.kind === 'connect-failure') return true;
  if (outcome.kind === 'response' && !retryStatuses.has(outcome.status)) return false;
  return isIdempotentRequest(method, headers);
}

/**
 * GET, HEAD, OPTIONS, PUT and DELETE; and POST carrying exactly one valid Idempotency-Key (parsed as
 * the gateway's idempotency policy parses it), whose server promises to apply it once. Methods are
 * case-sensitive (RFC 9110 §9.1): `get` is not GET. Not included although idempotent or keyed in
 * other specs: TRACE (never proxied usefully), PATCH with a key (the issue names POST only).
 */
export function isIdempotentRequest(method: string, headers: RequestHeaders): boolean {
  if (IDEMPOTENT_METHODS.has(method)) return true;
  if (method !== 'POST') return false;
  const header = headers['idempotency-key'];
  if (header === undefined) return false;
  try {
    return parseIdempotencyKey(typeof header === 'string' ? header : [...header]) !== undefined;
  } catch {
    return false;
  }
}
