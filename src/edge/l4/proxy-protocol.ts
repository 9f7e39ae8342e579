/**
 * The PROXY protocol header an L4 route can send to its upstream before the first client byte, so
 * the upstream learns the real client address that TCP proxying hides (HAProxy's specification,
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt). Only for upstreams configured to
 * expect it (PostgreSQL is not; PgBouncer, HAProxy, nginx `proxy_protocol` are): an upstream that
 * does not expect it reads the header as garbage.
 *
 * - v1 (§2.1): one text line, `PROXY TCP4 <src> <dst> <srcport> <dstport>\r\n`, or `TCP6`.
 * - v2 (§2.2): a 12-byte signature, version/command `0x21` (v2, PROXY), family `0x11` (TCP over
 *   IPv4) or `0x21` (TCP over IPv6), the address block length, then addresses and ports in network
 *   order. No TLVs.
 *
 * An IPv4 client on a dual-stack listener appears as `::ffff:a.b.c.d`; such addresses are sent as
 * TCP4 when both ends are IPv4-mapped. When an address is unknown (the socket closed already), v1
 * sends `PROXY UNKNOWN\r\n` and v2 the LOCAL command, as the specification asks.
 */
import { ipBytes } from '../balancers/ip-address.js';

export type ProxyProtocolVersion = 'v1' | 'v2';

export interface ProxyEndpoints {
  /** The client (the connection's remote end). */
  readonly sourceAddress: string | undefined;
  readonly sourcePort: number | undefined;
  /** The address the client connected to (the route's local end). */
  readonly destinationAddress: string | undefined;
  readonly destinationPort: number | undefined;
}

/** The v2 signature (§2.2): `\r\n\r\n\0\r\nQUIT\n`. */
export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

interface Endpoint {
  /** 4 or 16 bytes. */
  readonly bytes: Uint8Array;
  readonly port: number;
}

function endpoint(address: string | undefined, port: number | undefined): Endpoint | undefined {
  if (address === undefined || port === undefined) return undefined;
  const out = new Uint8Array(16);
  const length = ipBytes(address, out);
  return length === 0 ? undefined : { bytes: out.slice(0, length), port };
}

/** IPv4 bytes as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2); 16 bytes stay as they are. */
function asIpv6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

/**
 * The header for one connection.
 *
 * @example
 *   upstream.write(proxyProtocolHeader('v1', {
 *     sourceAddress: client.remoteAddress, sourcePort: client.remotePort,
 *     destinationAddress: client.localAddress, destinationPort: client.localPort,
 *   })); // "PROXY TCP4 203.0.113.9 10.0.0.1 51234 6432\r\n"
 */
export function proxyProtocolHeader(version: ProxyProtocolVersion, endpoints: ProxyEndpoints): Buffer {
  let source = endpoint(endpoints.sourceAddress, endpoints.sourcePort);
  let destination = endpoint(endpoints.destinationAddress, endpoints.destinationPort);
  if (source === undefined || destination === undefined) return unknownHeader(version);
  if (source.bytes.length !== destination.bytes.length) {
    // A mapped IPv4 address next to a plain IPv6 one: send both in IPv6 form.
    source = { bytes: asIpv6(source.bytes), port: source.port };
    destination = { bytes: asIpv6(destination.bytes), port: destination.port };
  }
  return version === 'v1' ? v1Header(source, destination) : v2Header(source, destination);
}

function unknownHeader(version: ProxyProtocolVersion): Buffer {
  if (version === 'v1') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  // LOCAL command (0x20), family UNSPEC, no address block.
  return Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
}

function v1Header(source: Endpoint, destination: Endpoint): Buffer {
  const family = source.bytes.length === 4 ? 'TCP4' : 'TCP6';
  const line = `PROXY ${family} ${addressText(source.bytes)} ${addressText(destination.bytes)} ${source.port} ${destination.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

function v2Header(source: Endpoint, destination: Endpoint): Buffer {
  const size = source.bytes.length;
  const length = 2 * size + 4;
  const header = Buffer.alloc(16 + length);
  PROXY_V2_SIGNATURE.copy(header, 0);
  header[12] = 0x21; // version 2, command PROXY
  header[13] = size === 4 ? 0x11 : 0x21; // AF_INET / AF_INET6, over STREAM
  header.writeUInt16BE(length, 14);
  header.set(source.bytes, 16);
  header.set(destination.bytes, 16 + size);
  header.writeUInt16BE(source.port, 16 + 2 * size);
  header.writeUInt16BE(destination.port, 18 + 2 * size);
  return header;
}
