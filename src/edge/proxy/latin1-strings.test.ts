import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Latin1Strings } from './latin1-strings.js';

describe('Latin1Strings', () => {
  it('gives the latin1 string of any bytes (lower-cased for names), whatever it remembered before', () => {
    // A tiny table, so slots collide and get replaced all the time.
    const names = new Latin1Strings(4, true);
    const values = new Latin1Strings(4, false);
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc
        .constantFrom('Content-Type', 'content-type', 'CONTENT-TYPE', 'Date', 'x-a', 'X-A', 'keep-alive')
        .map((s) => new Uint8Array(Buffer.from(s, 'latin1'))),
    );
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 1, maxLength: 20 }), (list) => {
        for (const raw of list) {
          const buf = Buffer.from(raw);
          expect(names.get(buf)).toBe(buf.toString('latin1').toLowerCase());
          expect(values.get(buf)).toBe(buf.toString('latin1'));
        }
      }),
    );
  });

  it('returns the remembered string for the same bytes in another case (names) or the same case (values)', () => {
    const names = new Latin1Strings(256, true);
    const first = names.get(Buffer.from('Content-Type'));
    expect(names.get(Buffer.from('content-type'))).toBe(first);
    const values = new Latin1Strings(256, false);
    expect(values.get(Buffer.from('Keep-Alive'))).toBe('Keep-Alive');
    expect(values.get(Buffer.from('keep-alive'))).toBe('keep-alive');
  });
});
