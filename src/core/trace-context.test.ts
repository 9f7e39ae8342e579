import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { childContext, formatTraceparent, parseTraceparent } from './trace-context.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent', () => {
  it('parses the W3C example and keeps the trace id in the child span', () => {
    const parent = parseTraceparent(VALID);
    expect(parent).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      flags: '01',
    });
    const child = childContext(parent);
    expect(child.traceId).toBe(parent?.traceId);
    expect(child.spanId).not.toBe(parent?.spanId);
    expect(formatTraceparent(child)).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });

  it.each([
    ['uppercase hex', VALID.toUpperCase()],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero span id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['version ff', VALID.replace(/^00/, 'ff')],
    ['version 00 with extra field', `${VALID}-extra`],
    ['short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'],
  ])('rejects %s', (_name, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it('accepts a future version with extra fields (forward compatibility)', () => {
    expect(parseTraceparent(`cc-${VALID.slice(3)}-what-ever`)?.traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it('never throws and only returns well-formed contexts, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f-]{0,60}$/)), (header) => {
        const parsed = parseTraceparent(header);
        if (parsed) {
          expect(parsed.traceId).toMatch(/^[0-9a-f]{32}$/);
          expect(parsed.spanId).toMatch(/^[0-9a-f]{16}$/);
        }
        const child = childContext(parsed);
        expect(formatTraceparent(child)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
      }),
      { numRuns: 2000 },
    );
  });
});
