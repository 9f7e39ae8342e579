import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contextHash, murmur3Bytes, murmur3String } from './hash.js';

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));

describe('MurmurHash3 x86_32', () => {
  it('matches the reference test vectors', () => {
    expect(murmur3Bytes(new Uint8Array(0), 0)).toBe(0);
    expect(murmur3Bytes(new Uint8Array(0), 1)).toBe(0x514e28b7);
    expect(murmur3Bytes(new Uint8Array(0), 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3Bytes(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0)).toBe(0x76293b50);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 0)).toBe(0xf55b516b);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43, 0x65]), 0)).toBe(0x7e4a8634);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43]), 0)).toBe(0xa0f7b07a);
    expect(murmur3Bytes(new Uint8Array([0x21]), 0)).toBe(0x72661cf4);
    expect(murmur3Bytes(bytes('Hello, world!'), 1234)).toBe(0xfaf6cdb3);
    expect(murmur3Bytes(bytes('The quick brown fox jumps over the lazy dog'), 0)).toBe(0x2e4ff723);
  });

  it('property: murmur3String(s) = murmur3Bytes(UTF-16LE bytes of s), for any string and seed', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer(), (text, seed) => {
        expect(murmur3String(text, seed)).toBe(
          murmur3Bytes(new Uint8Array(Buffer.from(text, 'utf16le')), seed),
        );
      }),
    );
  });

  it('contextHash: the key when given, else the client IP by its bytes, else undefined', () => {
    expect(contextHash('user-1', '10.0.0.1')).toBe(murmur3String('user-1'));
    expect(contextHash(undefined, '10.0.0.1')).toBe(murmur3Bytes(new Uint8Array([10, 0, 0, 1])));
    expect(contextHash(undefined, '::ffff:10.0.0.1')).toBe(contextHash(undefined, '10.0.0.1'));
    expect(contextHash(undefined, 'not-an-ip')).toBe(murmur3String('not-an-ip'));
    expect(contextHash(undefined, undefined)).toBeUndefined();
  });
});
