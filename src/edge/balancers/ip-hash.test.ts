import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { ipBytes, maskPrefix } from './ip-address.js';
import { IpHash } from './ip-hash.js';
import { seededRandom } from './weighted-sampler.js';

const t = (id: string, weight = 1, extra: Partial<Target> = {}): Target => ({
  id,
  address: id,
  weight,
  ...extra,
});
const group = (n: number) => Array.from({ length: n }, (_, i) => t(`node-${i}`));
const bytesOf = (ip: string) => {
  const out = new Uint8Array(16);
  return [...out.subarray(0, ipBytes(ip, out))];
};

/** Spellings of one IPv6 address given as 8 words: full, compressed, upper-case, bracketed, zoned. */
function spellings(words: number[]): string[] {
  const full = words.map((w) => w.toString(16).padStart(4, '0')).join(':');
  const short = words.map((w) => w.toString(16)).join(':');
  // RFC 5952-style compression of the longest zero run (if any, length ≥ 2).
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best[1]! && j - i >= 2) best = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  const compressed =
    best[0]! < 0 ? short : `${hex.slice(0, best[0]).join(':')}::${hex.slice(best[0]! + best[1]!).join(':')}`;
  return [full, short, compressed, full.toUpperCase(), `[${compressed}]`, `${compressed}%eth0`];
}

describe('ipBytes: one host, one key', () => {
  it('IPv4 and IPv4-mapped IPv6 in any spelling give the same 4 bytes', () => {
    for (const ip of [
      '10.1.2.3',
      '::ffff:10.1.2.3',
      '::FFFF:10.1.2.3',
      '::ffff:a01:203',
      '0:0:0:0:0:ffff:0a01:0203',
      '[::ffff:10.1.2.3]',
    ]) {
      expect(bytesOf(ip), ip).toEqual([10, 1, 2, 3]);
    }
  });

  it('IPv6: 16 bytes, the same for every spelling; an embedded dotted tail is read', () => {
    expect(bytesOf('2001:db8::1')).toEqual([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
    expect(bytesOf('::')).toEqual(new Array(16).fill(0));
    expect(bytesOf('64:ff9b::192.0.2.33')).toEqual([
      0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 33,
    ]);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
          minLength: 8,
          maxLength: 8,
        }),
        (words) => {
          const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
          const expected = words.flatMap((w) => [w >> 8, w & 0xff]);
          for (const spelling of spellings(words)) {
            expect(bytesOf(spelling), spelling).toEqual(mapped ? expected.slice(12) : expected);
          }
        },
      ),
    );
  });

  it('anything else is not an address (length 0): names, leading zeros, ports, garbage', () => {
    for (const ip of [
      '',
      'localhost',
      '010.1.2.3',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1.2.3.4:80',
      '1::2::3',
      'gggg::1',
    ]) {
      expect(bytesOf(ip), ip).toEqual([]);
    }
  });

  it('maskPrefix keeps the first n bits', () => {
    const bytes = new Uint8Array([10, 1, 2, 255]);
    maskPrefix(bytes, 4, 20);
    expect([...bytes]).toEqual([10, 1, 0, 0]);
    const six = new Uint8Array(16).fill(0xff);
    maskPrefix(six, 16, 64);
    expect([...six]).toEqual([...new Array(8).fill(0xff), ...new Array(8).fill(0)]);
  });
});

describe('ip hash', () => {
  const ips = Array.from({ length: 5_000 }, (_, i) => `198.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);
  const owners = (lb: IpHash, exclude?: ReadonlySet<string>) =>
    ips.map((clientIp) => lb.pick({ clientIp, exclude })!.id);

  it('is stable: the same client gets the same target, in every spelling of its address, on every instance', () => {
    const a = new IpHash({ targets: group(5) });
    const b = new IpHash({ targets: group(5).reverse() }); // another edge node, targets listed in another order
    expect(owners(b)).toEqual(owners(a));
    for (let i = 0; i < 200; i++) {
      expect(a.pick({ clientIp: `::ffff:${ips[i]}` })).toBe(a.pick({ clientIp: ips[i] }));
    }
    expect(a.pick({ clientIp: '2001:db8::7' })).toBe(a.pick({ clientIp: '2001:0DB8:0:0:0:0:0:7' }));
    expect(a.hashIp('::ffff:10.0.0.1')).toBe(a.hashIp('10.0.0.1'));
  });

  it('an unavailable or excluded target moves only its own clients, and they return when it recovers', () => {
    const lb = new IpHash({ targets: group(5) });
    const before = owners(lb);
    const excluded = owners(lb, new Set(['node-2']));
    lb.setTargets(group(5).map((x) => (x.id === 'node-2' ? { ...x, available: false } : x)));
    const down = owners(lb);
    expect(down).toEqual(excluded);
    before.forEach((id, i) => {
      if (id !== 'node-2') expect(down[i]).toBe(id);
      else expect(down[i]).not.toBe('node-2');
    });
    // The moved clients spread over the others rather than piling on one neighbour.
    expect(new Set(down.filter((_, i) => before[i] === 'node-2')).size).toBe(4);
    lb.setTargets(group(5));
    expect(owners(lb)).toEqual(before);
  });

  it('prefix lengths: /24 (nginx) keeps a whole IPv4 /24 together; /64 keeps an IPv6 /64 together', () => {
    const lb = new IpHash({ targets: group(16), ipv4PrefixLength: 24, ipv6PrefixLength: 64 });
    const v4 = new Set(Array.from({ length: 256 }, (_, i) => lb.pick({ clientIp: `203.0.113.${i}` })!.id));
    expect(v4.size).toBe(1);
    const v6 = new Set(
      Array.from({ length: 100 }, (_, i) => lb.pick({ clientIp: `2001:db8:1:2::${i.toString(16)}` })!.id),
    );
    expect(v6.size).toBe(1);
    const spread = new Set(Array.from({ length: 256 }, (_, i) => lb.pick({ clientIp: `203.0.${i}.1` })!.id));
    expect(spread.size).toBeGreaterThan(10);
    expect(() => new IpHash({ ipv4PrefixLength: 33 })).toThrow(
      expect.objectContaining({ code: 'EDGE_ERR_INVALID_BALANCER' }),
    );
  });

  it('without a client IP: the hash key, else random; a non-IP value is hashed as text', () => {
    const lb = new IpHash({ targets: group(8), random: seededRandom(9) });
    expect(lb.pick({ hashKey: 'abc' })).toBe(lb.pick({ hashKey: 'abc' }));
    expect(lb.pick({ clientIp: 'unix:/run/sock' })).toBe(lb.pick({ clientIp: 'unix:/run/sock' }));
    expect(new Set(Array.from({ length: 200 }, () => lb.pick()!.id)).size).toBe(8);
  });
});
