import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { isIdempotentRequest, isRetryable, RetryBudget } from './retry-budget.js';
import { CONNECT_FAILURE, RESET, responseOutcome, TIMEOUT } from './upstream-outcome.js';

/** Counts timestamps in [from, to] (inclusive: `fromExclusive` makes the start open). */
function countIn(times: readonly number[], from: number, to: number, fromExclusive: boolean): number {
  let n = 0;
  for (const t of times) if ((fromExclusive ? t > from : t >= from) && t <= to) n++;
  return n;
}

describe('RetryBudget: the ratio holds', () => {
  it('every granted retry fits the budget over the window, and every refusal is justified (exact reference)', () => {
    const config = fc.record({
      ratio: fc.constantFrom(0, 0.1, 0.2, 0.35, 0.5, 1),
      minRetriesPerSecond: fc.constantFrom(0, 0.5, 2),
      buckets: fc.integer({ min: 1, max: 20 }),
      bucketMs: fc.integer({ min: 1, max: 500 }),
    });
    const steps = fc.array(fc.tuple(fc.nat({ max: 400 }), fc.boolean()), { minLength: 1, maxLength: 2_000 });
    fc.assert(
      fc.property(config, steps, ({ ratio, minRetriesPerSecond, buckets, bucketMs }, sequence) => {
        const windowMs = buckets * bucketMs;
        let now = 1_000_000;
        const budget = new RetryBudget({
          ratio,
          minRetriesPerSecond,
          windowMs,
          windowBuckets: buckets,
          clock: () => now,
        });
        const reserve = (minRetriesPerSecond * windowMs) / 1_000;
        const requests: number[] = [];
        const retries: number[] = [];
        for (const [gap, isRequest] of sequence) {
          now += gap;
          if (isRequest) {
            budget.recordRequest();
            requests.push(now);
            continue;
          }
          // The budget counts within (now − windowMs, now] and at least [now − windowMs + bucketMs, now].
          if (budget.tryRetry()) {
            retries.push(now);
            const narrowRetries = countIn(retries, now - windowMs + bucketMs, now, false);
            const wideRequests = countIn(requests, now - windowMs, now, true);
            expect(narrowRetries).toBeLessThanOrEqual(ratio * wideRequests + reserve + 1e-9);
          } else {
            const wideRetries = countIn(retries, now - windowMs, now, true);
            const narrowRequests = countIn(requests, now - windowMs + bucketMs, now, false);
            expect(wideRetries + 1).toBeGreaterThan(ratio * narrowRequests + reserve - 1e-9);
          }
        }
        expect(budget.counters).toEqual({
          requests: requests.length,
          retries: retries.length,
          refused: sequence.filter(([, r]) => !r).length - retries.length,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('at steady load with every request failing, retries add about ratio of the load, not more', () => {
    let now = 0;
    const budget = new RetryBudget({
      ratio: 0.2,
      minRetriesPerSecond: 0,
      windowMs: 10_000,
      clock: () => now,
    });
    let requests = 0;
    let retries = 0;
    // 100 requests per second for 60 s, each one failing and asking for a retry.
    for (let i = 0; i < 6_000; i++) {
      now = i * 10;
      budget.recordRequest();
      requests++;
      if (budget.tryRetry()) retries++;
    }
    expect(retries / requests).toBeLessThanOrEqual(0.2);
    expect(retries / requests).toBeGreaterThan(0.19);
    expect(budget.window.requests).toBe(1_000);
    expect(budget.window.retries).toBeLessThanOrEqual(200);
  });

  it('the per-second minimum lets a quiet route retry; without it, a first failure could not', () => {
    let now = 0;
    const quiet = new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 1, windowMs: 10_000, clock: () => now });
    const strict = new RetryBudget({
      ratio: 0.2,
      minRetriesPerSecond: 0,
      windowMs: 10_000,
      clock: () => now,
    });
    quiet.recordRequest();
    strict.recordRequest();
    expect(strict.canRetry()).toBe(false); // 0.2 × 1 < 1
    for (let i = 0; i < 10; i++) expect(quiet.tryRetry()).toBe(true); // reserve: 1/s × 10 s
    expect(quiet.tryRetry()).toBe(false);
    now += 10_000; // the window has moved past all of them
    expect(quiet.tryRetry()).toBe(true);
  });

  it('canRetry does not spend; recordRetry does', () => {
    const budget = new RetryBudget({ ratio: 1, minRetriesPerSecond: 0, clock: () => 0 });
    budget.recordRequest();
    expect(budget.canRetry()).toBe(true);
    expect(budget.canRetry()).toBe(true);
    budget.recordRetry();
    expect(budget.canRetry()).toBe(false);
    expect(budget.window).toEqual({ requests: 1, retries: 1, allowance: 1 });
  });

  it('rejects invalid options', () => {
    for (const options of [
      { ratio: -0.1 },
      { windowMs: 0 },
      { windowBuckets: 0 },
      { minRetriesPerSecond: Number.NaN },
    ]) {
      expect(() => new RetryBudget(options), JSON.stringify(options)).toThrow(GroundworkError);
    }
  });
});

describe('isRetryable', () => {
  const key = { 'idempotency-key': '"8e03978e-40d5-43e8-bc93-6894a57f9324"' };
  const methods = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'POST', 'PATCH', 'TRACE', 'CONNECT', 'get'];

  it('a connect failure is retryable for every method: nothing was sent', () => {
    for (const method of methods) expect(isRetryable(method, {}, CONNECT_FAILURE), method).toBe(true);
  });

  it('timeouts, resets and gateway errors are retryable only for idempotent requests', () => {
    const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
    for (const outcome of [
      TIMEOUT,
      RESET,
      responseOutcome(502),
      responseOutcome(503),
      responseOutcome(504),
    ]) {
      for (const method of methods) {
        expect(isRetryable(method, {}, outcome), `${method} ${JSON.stringify(outcome)}`).toBe(
          idempotent.has(method),
        );
      }
      expect(isRetryable('POST', key, outcome)).toBe(true);
      expect(isRetryable('PATCH', key, outcome)).toBe(false);
    }
  });

  it('answers other than the retry statuses are never retried', () => {
    for (const status of [200, 201, 301, 400, 404, 409, 429, 500, 501]) {
      expect(isRetryable('GET', {}, responseOutcome(status)), String(status)).toBe(false);
      expect(isRetryable('POST', key, responseOutcome(status)), String(status)).toBe(false);
    }
    expect(isRetryable('GET', {}, responseOutcome(500), new Set([500]))).toBe(true);
    expect(isRetryable('GET', {}, responseOutcome(502), new Set([500]))).toBe(false);
  });

  it('POST needs exactly one valid Idempotency-Key', () => {
    expect(isIdempotentRequest('POST', key)).toBe(true);
    expect(isIdempotentRequest('POST', { 'idempotency-key': 'token-style_key.1' })).toBe(true);
    expect(isIdempotentRequest('POST', { 'idempotency-key': [key['idempotency-key']] })).toBe(true);
    expect(isIdempotentRequest('POST', {})).toBe(false);
    expect(isIdempotentRequest('POST', { 'idempotency-key': '' })).toBe(false);
    expect(isIdempotentRequest('POST', { 'idempotency-key': '""' })).toBe(false);
    expect(isIdempotentRequest('POST', { 'idempotency-key': 'has space' })).toBe(false);
    expect(isIdempotentRequest('POST', { 'idempotency-key': ['a', 'b'] })).toBe(false);
    expect(isIdempotentRequest('POST', { 'idempotency-key': 'x'.repeat(256) })).toBe(false);
  });
});
