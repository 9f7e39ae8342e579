/**
 * The headers a proxied request and response carry across the edge.
 *
 * Both directions drop the hop-by-hop fields (RFC 9110 §7.6.1): `Connection` and every field it
 * names, `Keep-Alive`, `Proxy-Connection`, `TE` (except `TE: trailers`), `Transfer-Encoding`,
 * `Upgrade`, `Trailer`, and the proxy credentials (`Proxy-Authorization` / `Proxy-Authenticate`),
 * which belong to a proxy hop, not to the origin. Requests also lose `Expect` (Node has already
 * answered `100 Continue`) and HTTP/2 pseudo-headers; framing is redone on each side.
 *
 * Forwarding information follows the gateway's trust rule (`gateway.trustedProxies`, the same
 * `CidrSet` the gateway uses for the client IP): when the peer is a trusted proxy, the incoming
 * `X-Forwarded-For` / `Forwarded` chains are kept and this hop is appended, and its
 * `X-Forwarded-Proto` / `-Host` are passed on; when it is not, whatever the client sent is replaced,
 * so an upstream that trusts the edge never reads a forged chain. `Via` (RFC 9110 §7.6.3) is
 * appended on both requests and responses with the configured pseudonym.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Latin1Strings } from './latin1-strings.js';

/** Lower-case names that never cross the edge, in either direction. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'te',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
]);

/** Replaced (or appended to) by the edge on requests. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via']);

export interface ForwardingInfo {
  /** The socket peer, normalised (`normalizeIp`); '' when unknown. */
  readonly peer: string;
  /** The peer is in `gateway.trustedProxies`: keep and extend its forwarding headers. */
  readonly peerTrusted: boolean;
  /** How the client reached the edge. */
  readonly proto: 'http' | 'https';
  /** The received `Host` / `:authority`, with its port. */
  readonly host: string | undefined;
  /** `Via` entry of this hop (`1.1 groundwork`), or '' for none. */
  readonly via: string;
  /** `Host` sent upstream; '' when the proxy sets it per target (`UPSTREAM_HOST_INDEX`). */
  readonly upstreamHost: string;
}

/**
 * Where the `Host` value sits in the list `upstreamRequestHeaders` returns: `host` is its first
 * field (RFC 9110 §7.2: a client sends Host first), so the proxy can set it per target (when the
 * group does not preserve the client's) without searching. Request transforms keep it there: they
 * keep the order of the fields they leave, and may not edit `Host`.
 */
export const UPSTREAM_HOST_INDEX = 1;

/**
 * The request headers to send upstream, as a flat `[name, value, …]` list (undici's array form),
 * built from the raw received headers (names keep their case, repeated fields stay separate):
 * `host` first (its value `info.upstreamHost`, see `UPSTREAM_HOST_INDEX`), then the client's
 * end-to-end fields in their order, then the forwarding fields.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], info: ForwardingInfo): string[] {
  const named = connectionTokens(rawHeaders);
  const out: string[] = ['host', info.upstreamHost];
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let forwarded: string | undefined;
  let via: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (FORWARDING.has(lower)) {
      if (lower === 'via') via = via === undefined ? value : `${via}, ${value}`;
      else if (lower === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
      else if (lower === 'forwarded') forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
      else if (lower === 'x-forwarded-proto') xfProto ??= value;
      else xfHost ??= value;
      continue;
    }
    if (lower === 'host' || lower === 'expect' || lower.charCodeAt(0) === 58 /* : */) continue;
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'te' && value.trim().toLowerCase() === 'trailers') out.push(name, value);
      continue;
    }
    if (named?.has(lower)) continue;
    out.push(name, value);
  }
  const trusted = info.peerTrusted;
  const peer = info.peer;
  if (peer !== '') out.push('x-forwarded-for', trusted && xff !== undefined ? `${xff}, ${peer}` : peer);
  else if (trusted && xff !== undefined) out.push('x-forwarded-for', xff);
  out.push('x-forwarded-proto', trusted && xfProto !== undefined ? xfProto : info.proto);
  const host = trusted && xfHost !== undefined ? xfHost : info.host;
  if (host !== undefined) out.push('x-forwarded-host', host);
  const element = forwardedElementOf(peer, info.host, info.proto);
  out.push('forwarded', trusted && forwarded !== undefined ? `${forwarded}, ${element}` : element);
  if (info.via !== '') out.push('via', via === undefined ? info.via : `${via}, ${info.via}`);
  else if (via !== undefined) out.push('via', via);
  return out;
}

/**
 * The response headers to send to the client, from undici's raw response headers (Buffers or
 * strings, `[name, value, …]`): hop-by-hop fields dropped, repeated fields kept as arrays, `via`
 * appended. Names are lower-case (HTTP/2 requires it; HTTP/1.1 does not care).
 */
export function downstreamResponseHeaders(
  rawHeaders: readonly (Buffer | string)[],
  via: string,
): Record<string, string | string[]> {
  // One pass; a plain object (fast properties for the few fields of a response). `__proto__` is
  // skipped: as a key it would not be a header. Fields named in `Connection` are removed at the end
  // (rare: servers normally send only `keep-alive` or `close` there).
  const out: Record<string, string | string[]> = {};
  let connection: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = nameText(rawHeaders[i]!);
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') {
        const value = valueText(rawHeaders[i + 1]!);
        connection = connection === undefined ? value : `${connection}, ${value}`;
      }
      continue;
    }
    if (name === '__proto__') continue;
    const value = valueText(rawHeaders[i + 1]!);
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (typeof existing === 'string') out[name] = [existing, value];
    else existing.push(value);
  }
  // Almost always `keep-alive` or `close`, which name no field: no token list for those.
  if (connection !== undefined && !isPersistenceOnly(connection)) {
    for (const token of tokensOf(connection, undefined)) {
      if (token !== 'keep-alive' && token !== 'close' && out[token] !== undefined) delete out[token];
    }
  }
  if (via !== '') {
    const existing = out.via;
    out.via = existing === undefined ? via : `${joinValues(existing)}, ${via}`;
  }
  return out;
}

/**
 * The `Via` entry of this hop for a request of `httpVersion` (`1.1 groundwork`, `2 groundwork`), or ''
 * when `pseudonym` is empty.
 */
export function viaEntry(httpVersion: string, pseudonym: string): string {
  if (pseudonym === '') return '';
  return `${httpVersion === '2.0' ? '2' : httpVersion} ${pseudonym}`;
}

/**
 * One RFC 7239 forwarded-element for this hop: `for=` the peer (IPv6 quoted in brackets, `unknown`
 * when there is none), `host=` and `proto=`, values quoted where they are not tokens (§4, §6).
 */
export function forwardedElement(peer: string, host: string | undefined, proto: string): string {
  const node = peer === '' ? 'unknown' : peer.includes(':') ? `"[${peer}]"` : peer;
  let element = `for=${node}`;
  if (host !== undefined && host !== '') element += `;host=${tokenOrQuoted(host)}`;
  return `${element};proto=${proto}`;
}

let lastPeer = '';
let lastElementHost: string | undefined;
let lastProto = '';
let lastElement = '';

/**
 * `forwardedElement`, remembering the last answer: consecutive requests mostly come from the same
 * peer with the same Host, and a string made once is also already flat when undici validates it.
 */
function forwardedElementOf(peer: string, host: string | undefined, proto: string): string {
  if (peer === lastPeer && host === lastElementHost && proto === lastProto && lastElement !== '') {
    return lastElement;
  }
  const element = forwardedElement(peer, host, proto);
  lastPeer = peer;
  lastElementHost = host;
  lastProto = proto;
  lastElement = element;
  return element;
}

/** A `Connection` value that is just `keep-alive` or `close` (any case, no other token). */
function isPersistenceOnly(value: string): boolean {
  if (value.length !== 10 && value.length !== 5) return false;
  const lower = value.toLowerCase();
  return lower === 'keep-alive' || lower === 'close';
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

let lastHost = '';
let lastHostParam = '';

/** Token or quoted-string; the last host is remembered (consecutive requests usually share it). */
function tokenOrQuoted(value: string): string {
  if (value === lastHost) return lastHostParam;
  const quoted = TOKEN.test(value) ? value : `"${value.replace(/[\\"]/g, '\\$&')}"`;
  lastHost = value;
  lastHostParam = quoted;
  return quoted;
}

/** The lower-case field names listed in `Connection` headers, or undefined when there are none. */
function connectionTokens(rawHeaders: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection')
      named = tokensOf(rawHeaders[i + 1]!, named);
  }
  return named;
}

function tokensOf(value: string, into: Set<string> | undefined): Set<string> {
  const set = into ?? new Set<string>();
  for (const token of value.split(',')) {
    const trimmed = token.trim().toLowerCase();
    if (trimmed !== '') set.add(trimmed);
  }
  return set;
}

/** Response field names and values, made once per distinct bytes (see `Latin1Strings`). */
const NAMES = new Latin1Strings(256, true);
const VALUES = new Latin1Strings(256, false);

/** A response field name, lower-case. */
function nameText(name: Buffer | string): string {
  return typeof name === 'string' ? name.toLowerCase() : NAMES.get(name);
}

function valueText(value: Buffer | string): string {
  return typeof value === 'string' ? value : VALUES.get(value);
}

function joinValues(value: string | string[]): string {
  return typeof value === 'string' ? value : value.join(', ');
}

/** Header value as one string (several lines joined per RFC 9110 §5.3), or undefined. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}
