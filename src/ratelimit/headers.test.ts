import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatRateLimit,
  formatRateLimitPolicy,
  formatRateLimits,
  policyNameString,
  rateLimitHeaders,
  retryAfterSeconds,
} from './headers.js';
import type { RateLimitDecision, RateLimitPolicy } from './rate-limit-store.js';
import type { PolicyDecision, RateLimitResult } from './rate-limiter.js';
import { type Item, parseList } from './structured-fields.js';

const burst: RateLimitPolicy = { name: 'burst', algorithm: 'token-bucket', limit: 10, windowMs: 1_000 };
const daily: RateLimitPolicy = {
  name: 'daily',
  algorithm: 'fixed-window',
  limit: 1000,
  windowMs: 86_400_000,
};
const ok = (remaining: number, resetMs: number): RateLimitDecision => ({
  allowed: true,
  limit: 10,
  remaining,
  resetMs,
  retryAfterMs: 0,
});

/** Every member must be an Item (not an Inner List) whose value is a String. */
function items(field: string): Item[] {
  return parseList(field).map((member) => {
    if (member.kind !== 'item') throw new Error('inner list');
    expect(member.value.type).toBe('string');
    return member;
  });
}

function intParam(item: Item, key: string): number {
  const value = item.params.get(key);
  if (value?.type !== 'integer') throw new Error(`${key} is not an Integer: ${JSON.stringify(value)}`);
  return value.value;
}

const decodeName = (s: string) => decodeURIComponent(s);

describe('RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-11)', () => {
  it('formats the draft examples exactly', () => {
    expect(formatRateLimitPolicy([burst, daily])).toBe('"burst";q=10;w=1, "daily";q=1000;w=86400');
    expect(formatRateLimit(ok(3, 400), burst)).toBe('"burst";r=3;t=1');
    expect(formatRateLimit(ok(50, 30_000), { ...burst, name: 'default' })).toBe('"default";r=50;t=30');
  });

  it('rounds windows and effective windows up to whole seconds (no sub-second precision, §3.1.3)', () => {
    expect(formatRateLimitPolicy([{ ...burst, windowMs: 1 }])).toBe('"burst";q=10;w=1'); // w is non-zero
    expect(formatRateLimitPolicy([{ ...burst, windowMs: 1_500 }])).toBe('"burst";q=10;w=2');
    expect(formatRateLimit(ok(10, 0), burst)).toBe('"burst";r=10;t=0');
    expect(formatRateLimit(ok(9, 1), burst)).toBe('"burst";r=9;t=1');
    expect(formatRateLimit(ok(9, 2_001), burst)).toBe('"burst";r=9;t=3');
  });

  it('on a refusal, t is the Retry-After delay (§6: Retry-After not earlier than the window end)', () => {
    const refused: RateLimitDecision = {
      allowed: false,
      limit: 10,
      remaining: 2,
      resetMs: 9_000,
      retryAfterMs: 1_200,
    };
    expect(formatRateLimit(refused, burst)).toBe('"burst";r=2;t=2');
    expect(retryAfterSeconds(refused.retryAfterMs)).toBe(2);
    expect(retryAfterSeconds(0)).toBe(0);
    expect(retryAfterSeconds(1)).toBe(1);
  });

  it('adds the partition key as a Byte Sequence when given (§3.1.4, §4.1.3)', () => {
    expect(formatRateLimitPolicy([burst], { partitionKey: 'trial121323' })).toBe(
      '"burst";q=10;w=1;pk=:dHJpYWwxMjEzMjM=:',
    );
    const field = formatRateLimit(ok(1, 1_000), burst, { partitionKey: new Uint8Array([0, 255, 7]) });
    const pk = items(field)[0]!.params.get('pk');
    if (pk?.type !== 'byte-sequence') throw new Error(`pk is not a Byte Sequence: ${JSON.stringify(pk)}`);
    expect([...pk.value]).toEqual([0, 255, 7]);
  });

  it('rateLimitHeaders: every policy in RateLimit, Retry-After on a refusal', () => {
    const decisions: PolicyDecision[] = [
      { allowed: false, limit: 10, remaining: 0, resetMs: 800, retryAfterMs: 100, policy: burst },
      { allowed: true, limit: 1000, remaining: 998, resetMs: 86_399_000, retryAfterMs: 0, policy: daily },
    ];
    const result: RateLimitResult = { allowed: false, degraded: false, decision: decisions[0]!, decisions };
    expect(rateLimitHeaders(result, [burst, daily])).toEqual({
      'ratelimit-policy': '"burst";q=10;w=1, "daily";q=1000;w=86400',
      ratelimit: '"burst";r=0;t=1, "daily";r=998;t=86399',
      'retry-after': '1',
    });
    expect(formatRateLimits(decisions)).toBe('"burst";r=0;t=1, "daily";r=998;t=86399');
  });

  it('parses per RFC 8941: quoted String items, Integer parameters', () => {
    const policy = items(formatRateLimitPolicy([burst, daily]));
    expect(policy.map((item) => item.value.value)).toEqual(['burst', 'daily']);
    expect(policy.map((item) => [intParam(item, 'q'), intParam(item, 'w')])).toEqual([
      [10, 1],
      [1000, 86_400],
    ]);
    const limit = items(formatRateLimit(ok(3, 400), burst))[0]!;
    expect([intParam(limit, 'r'), intParam(limit, 't')]).toEqual([3, 1]);
  });

  it('policy names outside printable ASCII are percent-encoded into a valid String', () => {
    expect(policyNameString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(policyNameString('100%')).toBe('"100%25"');
    expect(policyNameString('día\n')).toBe('"d%C3%ADa%0A"');
  });

  it('property: any names and numbers produce fields that parse, with the values they encode', () => {
    const number = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, 1e300, Number.NaN, Number.POSITIVE_INFINITY),
    );
    const policyArb = fc.record({
      name: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })),
      algorithm: fc.constant('gcra' as const),
      limit: number,
      windowMs: number,
    });
    const decisionArb = fc.record({
      allowed: fc.boolean(),
      limit: number,
      remaining: number,
      resetMs: number,
      retryAfterMs: number,
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(policyArb, decisionArb), { minLength: 1, maxLength: 4 }),
        fc.option(fc.uint8Array()),
        (pairs, pk) => {
          const options = pk === null ? {} : { partitionKey: pk };
          const policies = pairs.map(([p]) => p);
          const policyItems = items(formatRateLimitPolicy(policies, options));
          const limitItems = items(
            formatRateLimits(
              pairs.map(([p, d]) => ({ ...d, policy: p })),
              options,
            ),
          );
          expect(policyItems).toHaveLength(pairs.length);
          expect(limitItems).toHaveLength(pairs.length);
          for (const [i, [policy]] of pairs.entries()) {
            const name = policyItems[i]!.value.value as string;
            if (!/\p{Cs}/u.test(policy.name)) expect(decodeName(name)).toBe(policy.name);
            expect(intParam(policyItems[i]!, 'q')).toBeGreaterThanOrEqual(0);
            expect(intParam(policyItems[i]!, 'w')).toBeGreaterThanOrEqual(1);
            expect(intParam(limitItems[i]!, 'r')).toBeGreaterThanOrEqual(0);
            expect(intParam(limitItems[i]!, 't')).toBeGreaterThanOrEqual(0);
            if (pk !== null) expect(limitItems[i]!.params.get('pk')?.type).toBe('byte-sequence');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('the RFC 8941 List parser (test helper)', () => {
  it('accepts valid lists', () => {
    expect(parseList('"a";q=1,"b";w=2').length).toBe(2); // the draft's own examples omit the space
    expect(parseList('  tok;x, ?1, -1.5, :AQ==:, (1 2);y  ').length).toBe(5);
  });

  it.each([
    '"a",',
    '"a";q=1,,"b"',
    '"unterminated',
    '"bad \\x escape"',
    '"a";Q=1',
    '"a";q=1234567890123456',
    '"a";q=1.2345',
    ':not base64!:',
    '"é"',
    '?2',
  ])('rejects %j', (field) => {
    expect(() => parseList(field)).toThrow(SyntaxError);
  });
});
