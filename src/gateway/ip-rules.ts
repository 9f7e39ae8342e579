import { BlockList, isIP } from 'node:net';
import { GroundworkError } from '../core/errors.js';

/**
 * A set of IPv4/IPv6 addresses and CIDR ranges, matched with Node's `net.BlockList`.
 *
 * IPv4 and IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) are the same host here, in both
 * directions: `10.0.0.0/8` contains `::ffff:10.1.2.3`, and `::ffff:0:0/96` (or `::ffff:10.0.0.0/104`)
 * contains `10.1.2.3`. Node documents the first direction ("IPv6 notation for IPv4 addresses works",
 * `blockList.check`); Node 20 also does the second, but undocumented, so `contains` checks an IPv4
 * address in both spellings rather than rely on it. A consequence worth knowing: an IPv6 rule that
 * covers `::ffff:0:0/96` — `::/0` for one — matches every IPv4 address too.
 *
 * A CIDR whose address has host bits set (`192.168.1.7/24`) means the network that contains it
 * (`192.168.1.0/24`), as `BlockList.addSubnet` does. IPv6 zone ids (`fe80::1%eth0`) are refused.
 *
 * @example
 *   const office = new CidrSet(['10.0.0.0/8', '2001:db8::/32', '::1']);
 *   office.contains('::ffff:10.1.2.3'); // true
 *   office.contains('2001:db9::1');     // false
 *   office.contains('not an ip');       // false, never throws
 *
 * @throws GroundworkError `GATEWAY_ERR_INVALID_CIDR` naming the first invalid entry.
 */
/** Most addresses whose membership a CidrSet remembers (cleared when full). */
const MAX_REMEMBERED = 4096;

export class CidrSet {
  /** The entries as given (trimmed), for logs and `config print`. */
  readonly entries: readonly string[];
  readonly #list = new BlockList();
  readonly #answers = new Map<string, boolean>();

  constructor(entries: Iterable<string>) {
    const kept: string[] = [];
    for (const raw of entries) kept.push(this.#add(raw));
    this.entries = Object.freeze(kept);
  }

  get size(): number {
    return this.entries.length;
  }

  /** True when `ip` is in one of the ranges. An unparsable `ip` is in none; this never throws. */
  contains(ip: string): boolean {
    if (typeof ip !== 'string') return false;
    // The set never changes after construction, and the same few addresses (peers, proxies) are
    // asked about on every request: remember answers (BlockList.check builds a SocketAddress each time).
    const known = this.#answers.get(ip);
    if (known !== undefined) return known;
    const answer = this.#check(ip);
    if (this.#answers.size >= MAX_REMEMBERED) this.#answers.clear();
    this.#answers.set(ip, answer);
    return answer;
  }

  #check(ip: string): boolean {
    const address = normalizeIp(ip);
    try {
      switch (isIP(address)) {
        case 4:
          return this.#list.check(address, 'ipv4') || this.#list.check(`::ffff:${address}`, 'ipv6');
        case 6:
          return this.#list.check(address, 'ipv6');
        default:
          return false;
      }
    } catch {
      return false;
    }
  }

  #add(raw: string): string {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    if (family === 0 || address.includes('%')) {
      throw invalidCidr(raw, 'it is not an IPv4 or IPv6 address (no brackets, ports or zone ids)');
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    try {
      if (slash === -1) {
        this.#list.addAddress(address, type);
        return entry;
      }
      const prefixText = entry.slice(slash + 1);
      const max = family === 4 ? 32 : 128;
      if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
        throw invalidCidr(raw, `the prefix length must be an integer from 0 to ${max}`);
      }
      this.#list.addSubnet(address, Number(prefixText), type);
      return entry;
    } catch (error) {
      if (error instanceof GroundworkError) throw error;
      throw invalidCidr(raw, 'Node rejected it', error);
    }
  }
}

function invalidCidr(entry: string, why: string, cause?: unknown): GroundworkError {
  return new GroundworkError('GATEWAY_ERR_INVALID_CIDR', {
    detail: `Invalid IP address or CIDR ${JSON.stringify(entry)}: ${why}.`,
    cause,
  });
}

/**
 * Decides the IP rules for one client address: a match in `deny` refuses (deny wins); when `allow`
 * is given, only its matches pass — an empty `allow` set therefore refuses everyone, so pass
 * `allow` only when the list is non-empty. Unparsable addresses match nothing: they pass when there
 * is no allow list.
 *
 * @example
 *   decideIp('10.1.2.3', { allow: new CidrSet(['10.0.0.0/8']), deny: new CidrSet(['10.9.0.0/16']) }); // 'allow'
 *   decideIp('10.9.0.1', { allow: new CidrSet(['10.0.0.0/8']), deny: new CidrSet(['10.9.0.0/16']) }); // 'deny'
 */
export function decideIp(
  ip: string,
  rules: { allow?: CidrSet | undefined; deny?: CidrSet | undefined },
): 'allow' | 'deny' {
  if (rules.deny?.contains(ip)) return 'deny';
  if (rules.allow && !rules.allow.contains(ip)) return 'deny';
  return 'allow';
}

/**
 * The canonical text of an IP address: IPv4-mapped IPv6 becomes plain IPv4 (`::ffff:10.1.2.3` →
 * `10.1.2.3`, whatever its spelling), other IPv6 is lower-cased and compressed per RFC 5952
 * (`2001:DB8:0::1` → `2001:db8::1`), so one host has one rate-limit key. Anything that is not an IP
 * address, and IPv6 with a zone id, is returned unchanged.
 */
export function normalizeIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const known = normalized.get(ip);
  if (known !== undefined) return known;
  const result = normalizeIpv6(ip);
  if (normalized.size >= MAX_REMEMBERED) normalized.clear();
  normalized.set(ip, result);
  return result;
}

/** IPv6 spellings already normalized (a peer's address is asked about on each of its requests). */
const normalized = new Map<string, string>();

function normalizeIpv6(ip: string): string {
  if (ip.includes('%')) return ip.toLowerCase();
  let canonical: string;
  try {
    // The WHATWG URL parser serialises IPv6 per RFC 5952 and writes the mapped tail in hex.
    canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const high = Number.parseInt(mapped[1]!, 16);
  const low = Number.parseInt(mapped[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

export interface ClientIpInput {
  /** The socket peer (`socket.remoteAddress`); may be `''` when the socket is already gone. */
  remoteAddress: string;
  /** `X-Forwarded-For` as Node gives it: one string, or one per header line. */
  xForwardedFor?: string | string[] | undefined;
  /** RFC 7239 `Forwarded`, one string or one per header line. */
  forwarded?: string | string[] | undefined;
  /** Peers whose forwarding headers are believed, and hops skipped while walking the chain. */
  trustedProxies: CidrSet;
  /**
   * Which header to read when both are present; the other is read only when this one is absent.
   * Set it to the header your proxy writes: a client can send the other one itself, and a proxy
   * passes it through untouched. Default `'x-forwarded-for'`, the one nginx, HAProxy, Envoy,
   * Traefik and cloud load balancers append.
   */
  prefer?: 'forwarded' | 'x-forwarded-for' | undefined;
}

/** A hop that ends the walk: an obfuscated or `unknown` node (RFC 7239 §6.2/6.3) or garbage. */
const STOP = null;
type Hop = string | typeof STOP;

/**
 * The client's IP address. Forwarding headers are read only when the direct peer is in
 * `trustedProxies`; otherwise the peer is the client, whatever the headers say (anyone can send
 * them). Behind trusted proxies, the chain is walked from the right — the hop nearest to us, written
 * by the proxy we trust — skipping trusted proxies: the first untrusted address is the client; if
 * every hop is trusted, the leftmost. An obfuscated identifier (`_hidden`), `unknown`, or an entry
 * that does not parse ends the walk at the last address known good (the peer when there is none):
 * nothing left of it was written by a proxy we can vouch for. Never throws.
 *
 * The result is normalised by {@link normalizeIp}.
 *
 * @example
 *   const trustedProxies = new CidrSet(['10.0.0.0/8']);
 *   clientIp({ remoteAddress: '10.0.0.2', xForwardedFor: '6.6.6.6, 203.0.113.9, 10.0.0.7', trustedProxies });
 *   // '203.0.113.9' (6.6.6.6 is whatever the client claimed)
 *   clientIp({ remoteAddress: '198.51.100.4', xForwardedFor: '1.2.3.4', trustedProxies });
 *   // '198.51.100.4' (untrusted peer: the header is ignored)
 */
export function clientIp(input: ClientIpInput): string {
  const peer = normalizeIp(input.remoteAddress);
  if (!input.trustedProxies.contains(peer)) return peer;
  const hops = forwardingChain(input);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (hop === STOP) return client;
    client = hop;
    if (!input.trustedProxies.contains(hop)) return hop;
  }
  return client;
}

function forwardingChain(input: ClientIpInput): Hop[] {
  const xff = joinLines(input.xForwardedFor);
  const forwarded = joinLines(input.forwarded);
  const useForwarded =
    (input.prefer ?? 'x-forwarded-for') === 'forwarded' ? forwarded !== undefined : xff === undefined;
  if (useForwarded && forwarded !== undefined) return parseForwarded(forwarded);
  if (xff !== undefined) return parseXForwardedFor(xff);
  return [];
}

/** Several header lines are one comma-separated list, in order (RFC 9110 §5.3). */
function joinLines(value: string | string[] | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.length > 0) return value.filter((v) => typeof v === 'string').join(',');
  return undefined;
}

/**
 * `X-Forwarded-For: client, proxy1, proxy2` (de-facto standard, no RFC). Empty elements are ignored
 * as in any HTTP list (RFC 9110 §5.6.1); `1.2.3.4:80` and `[2001:db8::1]:80` are accepted because
 * some load balancers (Azure) append the port.
 */
export function parseXForwardedFor(value: string): Array<string | null> {
  const hops: Hop[] = [];
  for (const part of value.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    hops.push(parseNode(entry, false));
  }
  return hops;
}

/**
 * RFC 7239 `Forwarded`: a list of forwarded-elements (§4), each `pair *( ";" pair )`, with
 * case-insensitive parameter names and token or quoted-string values (RFC 9110 §5.6.4). Each
 * element gives one hop, its `for=` node (§5.2, §6): the address, or `null` where the walk must
 * stop — `unknown`, an obfuscated `_name`, a missing or repeated `for` (§4: "MUST NOT occur more than
 * once"), or anything that does not parse.
 *
 * @example
 *   parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"');
 *   // ['192.0.2.60', '2001:db8:cafe::17']
 */
export function parseForwarded(value: string): Array<string | null> {
  const hops: Hop[] = [];
  for (const element of splitForwarded(value)) {
    if (element.every((pair) => pair.trim() === '')) continue; // empty list element
    let node: string | undefined;
    let broken = false;
    for (const rawPair of element) {
      const pair = rawPair.trim();
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) {
        broken = true;
        break;
      }
      if (pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
      const parsed = unquote(pair.slice(eq + 1).trim());
      if (node !== undefined || parsed === undefined) {
        broken = true;
        break;
      }
      node = parsed;
    }
    hops.push(broken || node === undefined ? STOP : parseNode(node, true));
  }
  return hops;
}

/** Splits at top-level `,` (elements) and `;` (pairs), leaving quoted strings whole. */
function splitForwarded(value: string): string[][] {
  const elements: string[][] = [];
  let pairs: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
    } else if (c === ';' || c === ',') {
      pairs.push(value.slice(start, i));
      start = i + 1;
      if (c === ',') {
        elements.push(pairs);
        pairs = [];
      }
    }
  }
  pairs.push(value.slice(start));
  elements.push(pairs);
  return elements;
}

/** A token as is, or a quoted-string with its quoted-pairs undone; `undefined` when unterminated. */
function unquote(value: string): string | undefined {
  if (!value.startsWith('"')) return value;
  let out = '';
  for (let i = 1; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\') {
      i++;
      if (i >= value.length) return undefined;
      out += value[i];
    } else if (c === '"') {
      return i === value.length - 1 ? out : undefined;
    } else {
      out += c;
    }
  }
  return undefined;
}

const PORT = /^(?:\d{1,5}|_[A-Za-z0-9._-]+)$/;

/**
 * A node (RFC 7239 §6): `IPv4[:port]`, `"[IPv6][:port]"`, `unknown` or `_obfuscated`. Bare IPv6
 * without brackets is accepted too (it is unambiguous once it parses as a whole address).
 */
function parseNode(node: string, forwarded: boolean): Hop {
  if (isIP(node) !== 0) return node.includes('%') ? STOP : normalizeIp(node);
  if (forwarded && (node.toLowerCase() === 'unknown' || node.startsWith('_'))) return STOP;
  let host: string;
  let port: string | undefined;
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    if (close === -1) return STOP;
    host = node.slice(1, close);
    const rest = node.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return STOP;
      port = rest.slice(1);
    }
    if (isIP(host) !== 6) return STOP;
  } else {
    const colon = node.lastIndexOf(':');
    if (colon === -1) return STOP;
    host = node.slice(0, colon);
    port = node.slice(colon + 1);
    if (isIP(host) !== 4) return STOP;
  }
  if (port !== undefined && !PORT.test(port)) return STOP;
  if (host.includes('%')) return STOP;
  return normalizeIp(host);
}
