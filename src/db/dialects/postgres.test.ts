import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from './postgres.js';

describe('parseTimestamptz', () => {
  it('rewrites UTC text to Groundwork ISO form, milliseconds always three digits', () => {
    expect(parseTimestamptz('2026-11-23 14:15:47.123456+00')).toBe('2026-11-23T14:15:47.123Z');
    expect(parseTimestamptz('2026-11-23 14:15:47.5+00')).toBe('2026-11-23T14:15:47.500Z');
    expect(parseTimestamptz('2026-11-23 14:15:47+00')).toBe('2026-11-23T14:15:47.000Z');
  });

  it('other offsets and forms go through Date', () => {
    expect(parseTimestamptz('2026-11-23 16:15:47.5+02')).toBe('2026-11-23T14:15:47.500Z');
    expect(parseTimestamptz('2026-11-23 09:45:47-04:30')).toBe('2026-11-23T14:15:47.000Z');
    expect(parseTimestamptz('infinity')).toBe('infinity');
  });

  it('property: the fast path agrees with Date for every UTC instant', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1000-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (date) => {
          const iso = date.toISOString();
          const text = `${iso.slice(0, 10)} ${iso.slice(11, 23)}+00`;
          expect(parseTimestamptz(text)).toBe(iso);
        },
      ),
    );
  });
});
