import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../core/errors.js';
import { CidrSet, clientIp, decideIp, normalizeIp, parseForwarded, parseXForwardedFor } from './ip-rules.js';

describe('CidrSet', () => {
  it('matches IPv4 ranges and single addresses', () => {
    const set = new CidrSet(['10.0.0.0/8', '192.168.1.7', ' 172.16.0.0/12 ']);
    expect(set.contains('10.255.0.1')).toBe(true);
    expect(set.contains('11.0.0.1')).toBe(false);
    expect(set.contains('192.168.1.7')).toBe(true);
    expect(set.contains('192.168.1.8')).toBe(false);
    expect(set.contains('172.31.255.255')).toBe(true);
    expect(set.contains('172.32.0.0')).toBe(false);
    expect(set.entries).toEqual(['10.0.0.0/8', '192.168.1.7', '172.16.0.0/12']);
    expect(set.size).toBe(3);
  });

  it('matches IPv6 CIDRs', () => {
    const set = new CidrSet(['2001:db8::/32', '::1']);
    expect(set.contains('2001:db8:ffff::1')).toBe(true);
    expect(set.contains('2001:DB8:0:0:0:0:0:1')).toBe(true);
    expect(set.contains('2001:db9::1')).toBe(false);
    expect(set.contains('2001:db7:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(false);
    expect(set.contains('::1')).toBe(true);
    expect(set.contains('::2')).toBe(false);
    // IPv6 rules do not leak into IPv4 outside ::ffff:0:0/96.
    expect(set.contains('127.0.0.1')).toBe(false);
  });

  it('an IPv4 rule matches the IPv4-mapped IPv6 spelling of the address, in any notation', () => {
    const set = new CidrSet(['10.0.0.0/8']);
    expect(set.contains('::ffff:10.1.2.3')).toBe(true);
    expect(set.contains('::FFFF:a01:203')).toBe(true);
    expect(set.contains('0:0:0:0:0:ffff:10.1.2.3')).toBe(true);
    expect(set.contains('::ffff:11.1.2.3')).toBe(false);
    // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1) is not the IPv4 host.
    expect(set.contains('::10.1.2.3')).toBe(false);
  });

  it('an IPv4-mapped IPv6 rule matches plain IPv4 clients', () => {
    const all = new CidrSet(['::ffff:0:0/96']);
    expect(all.contains('10.1.2.3')).toBe(true);
    expect(all.contains('203.0.113.9')).toBe(true);
    expect(all.contains('2001:db8::1')).toBe(false);
    const ten = new CidrSet(['::ffff:10.0.0.0/104']);
    expect(ten.contains('10.1.2.3')).toBe(true);
    expect(ten.contains('11.1.2.3')).toBe(false);
    const one = new CidrSet(['::ffff:10.1.2.3']);
    expect(one.contains('10.1.2.3')).toBe(true);
    expect(one.contains('10.1.2.4')).toBe(false);
  });

  it('documents the consequence: an IPv6 rule covering ::ffff:0:0/96 matches every IPv4 address', () => {
    expect(new CidrSet(['::/0']).contains('198.51.100.1')).toBe(true);
    expect(new CidrSet(['0.0.0.0/0']).contains('2001:db8::1')).toBe(false);
  });

  it('a CIDR with host bits set means its network', () => {
    const set = new CidrSet(['192.168.1.7/24']);
    expect(set.contains('192.168.1.200')).toBe(true);
    expect(set.contains('192.168.2.1')).toBe(false);
  });

  it.each([
    ['10.0.0.0/33', 'prefix length'],
    ['2001:db8::/129', 'prefix length'],
    ['10.0.0.0/', 'prefix length'],
    ['10.0.0.0/8/8', 'prefix length'],
    ['10.0.0.0/-1', 'prefix length'],
    ['10.0.0.0/ 8', 'prefix length'],
    ['10.0.0.256', 'not an IPv4 or IPv6'],
    ['010.0.0.1', 'not an IPv4 or IPv6'],
    ['[::1]', 'not an IPv4 or IPv6'],
    ['fe80::1%eth0', 'not an IPv4 or IPv6'],
    ['example.com', 'not an IPv4 or IPv6'],
    ['', 'not an IPv4 or IPv6'],
  ])('refuses %j with GATEWAY_ERR_INVALID_CIDR naming it', (entry, why) => {
    let caught: unknown;
    try {
      new CidrSet(['10.0.0.0/8', entry]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GroundworkError);
    const error = caught as GroundworkError;
    expect(error.code).toBe('GATEWAY_ERR_INVALID_CIDR');
    expect(error.status).toBe(500);
    expect(error.detail).toContain(JSON.stringify(entry));
    expect(error.detail).toContain(why);
  });

  it('contains() never throws and is false for anything that is not an address', () => {
    const set = new CidrSet(['0.0.0.0/0', '::/0']);
    for (const junk of ['', 'garbage', '1.2.3', '::ffff:', '[::1]', '1.2.3.4:80', ' 1.2.3.4', '\u0000']) {
      expect(set.contains(junk), junk).toBe(false);
    }
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(typeof set.contains(s)).toBe('boolean');
      }),
    );
  });
});

describe('decideIp', () => {
  const allow = new CidrSet(['10.0.0.0/8', '2001:db8::/32']);
  const deny = new CidrSet(['10.9.0.0/16']);

  it('deny wins over allow', () => {
    expect(decideIp('10.9.1.1', { allow, deny })).toBe('deny');
    expect(decideIp('::ffff:10.9.1.1', { allow, deny })).toBe('deny');
  });

  it('with an allow list, only its ranges pass', () => {
    expect(decideIp('10.1.1.1', { allow, deny })).toBe('allow');
    expect(decideIp('2001:db8::5', { allow })).toBe('allow');
    expect(decideIp('192.0.2.1', { allow, deny })).toBe('deny');
    expect(decideIp('not-an-ip', { allow })).toBe('deny');
  });

  it('with only a deny list, everything else passes', () => {
    expect(decideIp('192.0.2.1', { deny })).toBe('allow');
    expect(decideIp('10.9.0.1', { deny })).toBe('deny');
    expect(decideIp('not-an-ip', { deny })).toBe('allow');
  });

  it('no lists: allow; an empty allow set refuses everyone', () => {
    expect(decideIp('192.0.2.1', {})).toBe('allow');
    expect(decideIp('192.0.2.1', { allow: new CidrSet([]) })).toBe('deny');
  });
});

describe('normalizeIp', () => {
  it.each([
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:a01:203', '10.1.2.3'],
    ['0:0:0:0:0:ffff:c000:0201', '192.0.2.1'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['10.1.2.3', '10.1.2.3'],
    ['::1', '::1'],
    ['FE80::1%eth0', 'fe80::1%eth0'],
    ['garbage', 'garbage'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeIp(input)).toBe(expected);
  });
});

describe('parseForwarded (RFC 7239)', () => {
  it.each<[string, Array<string | null>]>([
    ['for=192.0.2.60;proto=http;by=203.0.113.43', ['192.0.2.60']],
    ['for=192.0.2.43, for=198.51.100.17', ['192.0.2.43', '198.51.100.17']],
    ['For="[2001:db8:cafe::17]:4711"', ['2001:db8:cafe::17']],
    ['for="[2001:db8:cafe::17]"', ['2001:db8:cafe::17']],
    ['for="1.2.3.4:80"', ['1.2.3.4']],
    ['for="1.2.3.4:_abc"', ['1.2.3.4']],
    ['FOR=1.2.3.4 ; PROTO=https', ['1.2.3.4']],
    ['proto=https;for="::ffff:10.0.0.1"', ['10.0.0.1']],
    ['for="\\1\\.2.3.4"', ['1.2.3.4']],
    ['by="a,b;c";for=1.2.3.4', ['1.2.3.4']],
    ['for=_hidden, for=198.51.100.17', [null, '198.51.100.17']],
    ['for=unknown, for=198.51.100.17', [null, '198.51.100.17']],
    ['for=UNKNOWN', [null]],
    ['for="_gazonk"', [null]],
    ['proto=https', [null]],
    ['for=1.2.3.4;for=5.6.7.8', [null]],
    ['for="1.2.3.4', [null]],
    ['for="1.2.3.4"x', [null]],
    ['for=[2001:db8::1]', ['2001:db8::1']],
    ['for=2001:db8::1', ['2001:db8::1']],
    ['for="[2001:db8::1]:bad"', [null]],
    ['for="[2001:db8::1"', [null]],
    ['for="1.2.3.4:99999999"', [null]],
    ['for=1.2.3.400', [null]],
    ['garbage', [null]],
    ['=1.2.3.4', [null]],
    [', , for=1.2.3.4,', ['1.2.3.4']],
    ['', []],
  ])('%j', (header, hops) => {
    expect(parseForwarded(header)).toEqual(hops);
  });
});

describe('parseXForwardedFor', () => {
  it.each<[string, Array<string | null>]>([
    ['203.0.113.9', ['203.0.113.9']],
    ['203.0.113.9, 10.0.0.7 ,10.0.0.8', ['203.0.113.9', '10.0.0.7', '10.0.0.8']],
    ['2001:db8::1, ::ffff:10.0.0.1', ['2001:db8::1', '10.0.0.1']],
    ['203.0.113.9:51234, [2001:db8::1]:443', ['203.0.113.9', '2001:db8::1']],
    ['unknown, 10.0.0.1', [null, '10.0.0.1']],
    ['<script>, 1.2.3.4', [null, '1.2.3.4']],
    [' , ,1.2.3.4, ', ['1.2.3.4']],
    ['fe80::1%eth0', [null]],
    ['', []],
  ])('%j', (header, hops) => {
    expect(parseXForwardedFor(header)).toEqual(hops);
  });
});

describe('clientIp', () => {
  const trustedProxies = new CidrSet(['10.0.0.0/8', '::1', '127.0.0.0/8']);

  it('ignores a spoofed X-Forwarded-For / Forwarded from an untrusted peer', () => {
    expect(
      clientIp({
        remoteAddress: '198.51.100.4',
        xForwardedFor: '10.0.0.1',
        forwarded: 'for=10.0.0.1',
        trustedProxies,
      }),
    ).toBe('198.51.100.4');
    expect(clientIp({ remoteAddress: '::ffff:198.51.100.4', xForwardedFor: '1.1.1.1', trustedProxies })).toBe(
      '198.51.100.4',
    );
  });

  it('without headers the peer is the client, normalised', () => {
    expect(clientIp({ remoteAddress: '::ffff:10.0.0.2', trustedProxies })).toBe('10.0.0.2');
    expect(clientIp({ remoteAddress: '', trustedProxies })).toBe('');
  });

  it('walks a trusted chain from the right, skipping trusted proxies', () => {
    expect(
      clientIp({
        remoteAddress: '10.0.0.2',
        xForwardedFor: '6.6.6.6, 203.0.113.9, 10.0.0.7, 10.0.0.8',
        trustedProxies,
      }),
    ).toBe('203.0.113.9');
  });

  it('reads several header lines as one list, in order', () => {
    expect(
      clientIp({
        remoteAddress: '10.0.0.2',
        xForwardedFor: ['6.6.6.6, 203.0.113.9', '10.0.0.7'],
        trustedProxies,
      }),
    ).toBe('203.0.113.9');
    expect(
      clientIp({
        remoteAddress: '10.0.0.2',
        forwarded: ['for=6.6.6.6', 'for="[2001:db8::9]:1234";proto=https', 'For=10.0.0.7'],
        trustedProxies,
        prefer: 'forwarded',
      }),
    ).toBe('2001:db8::9');
  });

  it('all hops trusted: the leftmost', () => {
    expect(
      clientIp({ remoteAddress: '127.0.0.1', xForwardedFor: '10.0.0.5, 10.0.0.6', trustedProxies }),
    ).toBe('10.0.0.5');
  });

  it('an obfuscated or unknown hop stops the walk at the last good address', () => {
    expect(
      clientIp({
        remoteAddress: '10.0.0.2',
        forwarded: 'for=203.0.113.9, for=_hidden, for=10.0.0.7',
        trustedProxies,
      }),
    ).toBe('10.0.0.7');
    expect(
      clientIp({ remoteAddress: '10.0.0.2', forwarded: 'for=203.0.113.9, for=unknown', trustedProxies }),
    ).toBe('10.0.0.2');
  });

  it('garbage falls back to the last good address (the peer when nothing parses)', () => {
    expect(clientIp({ remoteAddress: '10.0.0.2', xForwardedFor: 'garbage', trustedProxies })).toBe(
      '10.0.0.2',
    );
    expect(
      clientIp({
        remoteAddress: '10.0.0.2',
        xForwardedFor: '203.0.113.9, nonsense, 10.0.0.9',
        trustedProxies,
      }),
    ).toBe('10.0.0.9');
    expect(clientIp({ remoteAddress: '10.0.0.2', xForwardedFor: '', trustedProxies })).toBe('10.0.0.2');
  });

  it('normalises IPv4-mapped addresses from headers', () => {
    expect(clientIp({ remoteAddress: '::1', xForwardedFor: '::ffff:203.0.113.9', trustedProxies })).toBe(
      '203.0.113.9',
    );
  });

  it('a trusted IPv4 proxy seen over an IPv6 socket is still trusted', () => {
    expect(clientIp({ remoteAddress: '::ffff:10.0.0.2', xForwardedFor: '203.0.113.9', trustedProxies })).toBe(
      '203.0.113.9',
    );
  });

  it('reads the preferred header; the other only when the preferred one is absent', () => {
    const headers = { xForwardedFor: '203.0.113.1', forwarded: 'for=203.0.113.2' };
    expect(clientIp({ remoteAddress: '10.0.0.2', ...headers, trustedProxies })).toBe('203.0.113.1');
    expect(clientIp({ remoteAddress: '10.0.0.2', ...headers, trustedProxies, prefer: 'forwarded' })).toBe(
      '203.0.113.2',
    );
    expect(clientIp({ remoteAddress: '10.0.0.2', forwarded: 'for=203.0.113.2', trustedProxies })).toBe(
      '203.0.113.2',
    );
    expect(
      clientIp({
        remoteAddress: '10.0.0.2',
        xForwardedFor: '203.0.113.1',
        trustedProxies,
        prefer: 'forwarded',
      }),
    ).toBe('203.0.113.1');
  });
});

describe('clientIp properties', () => {
  const trustedProxies = new CidrSet(['10.0.0.0/8', '2001:db8:1::/48']);
  const piece = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.ipV4(),
    fc.ipV6(),
    fc.constantFrom('10.0.0.1', '10.2.3.4', '2001:db8:1::7', '::ffff:10.0.0.3', '::ffff:198.51.100.1'),
    fc.constantFrom(
      ',',
      ', ',
      ';',
      '=',
      '"',
      '\\',
      '[',
      ']',
      ':',
      ':80',
      'for=',
      'For=',
      '_hidden',
      'unknown',
      ' ',
    ),
  );
  const header = fc.array(piece, { maxLength: 14 }).map((parts) => parts.join(''));
  const headerValue = fc.oneof(header, fc.array(header, { maxLength: 3 }), fc.constant(undefined));
  const peer = fc.oneof(
    fc.constantFrom('10.0.0.9', '::ffff:10.0.0.9', '2001:db8:1::1'),
    fc.ipV4(),
    fc.ipV6(),
    fc.string(),
  );

  /** Some piece of the header text (backslashes dropped: quoted-pairs) that normalises to `ip`. */
  function appears(ip: string, ...values: Array<string | string[] | undefined>): boolean {
    const texts = values.flat().filter((v): v is string => typeof v === 'string');
    for (const text of [...texts, ...texts.map((t) => t.replaceAll('\\', ''))]) {
      for (let i = 0; i < text.length; i++) {
        for (let j = i + 1; j <= Math.min(text.length, i + 45); j++) {
          if (normalizeIp(text.slice(i, j)) === ip && isIP(text.slice(i, j)) !== 0) return true;
        }
      }
    }
    return false;
  }

  it('never throws; the result is the peer or an address that appears in the headers', () => {
    fc.assert(
      fc.property(
        peer,
        headerValue,
        headerValue,
        fc.boolean(),
        (remoteAddress, xff, fwd, preferForwarded) => {
          const result = clientIp({
            remoteAddress,
            xForwardedFor: xff,
            forwarded: fwd,
            trustedProxies,
            prefer: preferForwarded ? 'forwarded' : 'x-forwarded-for',
          });
          if (result === normalizeIp(remoteAddress)) return;
          expect(isIP(result)).not.toBe(0);
          expect(appears(result, xff, fwd)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an untrusted peer is always the client, whatever the headers', () => {
    fc.assert(
      fc.property(fc.ipV4(), headerValue, headerValue, (remoteAddress, xff, fwd) => {
        fc.pre(!trustedProxies.contains(remoteAddress));
        expect(clientIp({ remoteAddress, xForwardedFor: xff, forwarded: fwd, trustedProxies })).toBe(
          remoteAddress,
        );
      }),
    );
  });

  it('arbitrary strings never throw in either parser', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        for (const hop of [...parseForwarded(s), ...parseXForwardedFor(s)]) {
          if (hop !== null) expect(isIP(hop)).not.toBe(0);
        }
      }),
    );
  });
});
