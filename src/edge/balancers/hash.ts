/**
 * MurmurHash3 x86_32 (Austin Appleby, public domain), the hash the ring, Maglev and ip-hash place
 * and look up with. Chosen over FNV-1a for its avalanche (FNV-1a clusters similar labels such as
 * `a#1`, `a#2` on a ring) and over `node:crypto` digests for speed: `bench/balancers.ts` measures
 * all three. Not a defence against chosen keys: a client who can pick hash keys can pick a target
 * anyway.
 *
 * `murmur3String` hashes a string's UTF-16 code units (two per 32-bit block, little-endian), which
 * is bit for bit `murmur3Bytes` of `Buffer.from(text, 'utf16le')`, without encoding the string.
 */

import { ipBytes } from './ip-address.js';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, byteLength: number): number {
  h ^= byteLength;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of `text` as UTF-16LE; an unsigned 32-bit integer. */
export function murmur3String(text: string, seed = 0): number {
  let h = seed | 0;
  const length = text.length;
  const end = length & ~1;
  for (let i = 0; i < end; i += 2) {
    h = mixH(h, text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16));
  }
  if (length & 1) h ^= mixK(text.charCodeAt(end));
  return finalize(h, length * 2);
}

/** MurmurHash3 x86_32 of `bytes[0, length)`; an unsigned 32-bit integer. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  let h = seed | 0;
  const end = length & ~3;
  for (let i = 0; i < end; i += 4) {
    h = mixH(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  const rest = length & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= bytes[end + 2]! << 16;
    if (rest >= 2) k ^= bytes[end + 1]! << 8;
    k ^= bytes[end]!;
    h ^= mixK(k);
  }
  return finalize(h, length);
}

const scratch = new Uint8Array(16);

/**
 * The 32-bit hash of what a request is keyed by: `hashKey` when given, else `clientIp` (normalised
 * by `ipBytes`, so every spelling of one address hashes alike), else `undefined`.
 */
export function contextHash(hashKey: string | undefined, clientIp: string | undefined): number | undefined {
  if (hashKey !== undefined) return murmur3String(hashKey);
  if (clientIp === undefined) return undefined;
  const length = ipBytes(clientIp, scratch);
  return length === 0 ? murmur3String(clientIp) : murmur3Bytes(scratch, 0, length);
}
