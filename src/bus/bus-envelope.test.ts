import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../core/errors.js';
import { decodeEnvelope, encodeEnvelope, payloadBytes, validateTopic } from './bus-envelope.js';

const meta = { id: 'f3a0c1e2-0000-4000-8000-000000000000', topic: 'a.b', origin: 'node-1', publishedAt: 1 };

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof GroundworkError ? error.code : 'not a GroundworkError';
  }
  return undefined;
}

describe('bus envelope', () => {
  it('round-trips any JSON value with its metadata', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), fc.nat(), (data, origin, at) => {
        const decoded = decodeEnvelope(encodeEnvelope({ ...meta, origin, publishedAt: at }, data));
        // JSON itself turns -0 into 0.
        expect(decoded).toEqual({ ...meta, origin, publishedAt: at, data: JSON.parse(JSON.stringify(data)) });
      }),
    );
  });

  it('refuses values without a JSON form', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const value of [undefined, () => 1, Symbol('s'), 1n, cycle]) {
      expect(codeOf(() => encodeEnvelope(meta, value))).toBe('BUS_ERR_INVALID_MESSAGE');
    }
  });

  it('counts size in UTF-8 bytes', () => {
    expect(payloadBytes('é€😀')).toBe(2 + 3 + 4);
  });

  it('accepts the topic grammar only, within the length bound', () => {
    for (const topic of ['a', 'data.changes', 'cache:posts/1', '_x-y', 'A9']) {
      expect(codeOf(() => validateTopic(topic, 20))).toBeUndefined();
    }
    for (const topic of ['', '.a', '-a', 'a b', 'a"b', "a'b", 'a;b', 'a\0b', 'é', 12, null]) {
      expect(codeOf(() => validateTopic(topic, 20))).toBe('BUS_ERR_INVALID_TOPIC');
    }
    expect(codeOf(() => validateTopic('x'.repeat(20), 20))).toBeUndefined();
    expect(codeOf(() => validateTopic('x'.repeat(21), 20))).toBe('BUS_ERR_INVALID_TOPIC');
  });
});
