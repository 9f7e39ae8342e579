/**
 * The bytes of a client address, so one host hashes the same however it is spelled: IPv4 and
 * IPv4-mapped IPv6 (`::ffff:10.1.2.3`, RFC 4291 §2.5.5.2) give the same 4 bytes; IPv6 in any case
 * or compression (`2001:DB8:0::1`, `2001:db8::1`, `2001:0db8:0:0:0:0:0:1`) gives the same 16;
 * brackets and zone ids (`[fe80::1%eth0]`) are dropped. Written by hand (not `new URL`) because it
 * runs on every ip-hash pick.
 */
import { isIP } from 'node:net';

/**
 * The address's bytes (4 for IPv4 and IPv4-mapped IPv6, 16 for other IPv6), written into `out`
 * (16 bytes); returns the length, or 0 when `ip` is not an IP address.
 */
export function ipBytes(ip: string, out: Uint8Array): number {
  let text = ip;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (readIpv4(text, out, 0)) return 4;
  if (!text.includes(':') || isIP(text) !== 6) return 0;
  writeIpv6(text, out);
  let mapped = out[10] === 0xff && out[11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) mapped = out[i] === 0;
  if (!mapped) return 16;
  out.copyWithin(0, 12, 16);
  return 4;
}

/** Zeroes the bits after the first `prefixLength` of `bytes[0, length)` (a network address). */
export function maskPrefix(bytes: Uint8Array, length: number, prefixLength: number): void {
  for (let i = 0; i < length; i++) {
    const keep = prefixLength - i * 8;
    if (keep >= 8) continue;
    bytes[i] = keep <= 0 ? 0 : bytes[i]! & (0xff << (8 - keep));
  }
}

/** Strict dotted quad, as `net.isIP` accepts it (no leading zeros); writes 4 bytes when valid. */
function readIpv4(text: string, out: Uint8Array, offset: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || part === 3) return false;
      out[offset + part++] = value;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39 || (digits > 0 && value === 0)) return false;
    value = value * 10 + (c - 0x30);
    digits++;
    if (value > 255) return false;
  }
  if (digits === 0 || part !== 3) return false;
  out[offset + 3] = value;
  return true;
}

/** `text` is valid IPv6 (checked by `isIP`) without zone. */
function writeIpv6(text: string, out: Uint8Array): void {
  out.fill(0);
  const gap = text.indexOf('::');
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const words: number[] = [];
  const toWords = (groups: string[]) => {
    const result: number[] = [];
    for (const group of groups) {
      if (group.includes('.')) {
        const v4 = new Uint8Array(4);
        readIpv4(group, v4, 0);
        result.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        result.push(Number.parseInt(group, 16));
      }
    }
    return result;
  };
  const left = toWords(headGroups);
  const right = toWords(tailGroups);
  words.push(...left);
  for (let i = left.length + right.length; i < 8; i++) words.push(0);
  words.push(...right);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = words[i]! >> 8;
    out[i * 2 + 1] = words[i]! & 0xff;
  }
}
