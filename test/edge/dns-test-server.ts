/**
 * A tiny authoritative DNS server on a loopback UDP port for tests: answers A and AAAA queries from
 * a table the test changes while it runs, and fails on demand (SERVFAIL, REFUSED, NXDOMAIN, or no
 * answer at all for timeouts). Enough of RFC 1035 for node:dns's c-ares resolver: one question per
 * query, answers with a compression pointer to the question's name. No traffic leaves 127.0.0.1.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface TestRecord {
  address: string;
  /** Seconds. */
  ttl: number;
}

export interface TestZoneEntry {
  a?: TestRecord[];
  aaaa?: TestRecord[];
}

/** `answer` serves the table; the others fail every query that way (`drop` never answers). */
export type DnsServerMode = 'answer' | 'servfail' | 'refused' | 'nxdomain' | 'drop';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE = { noError: 0, servFail: 2, nxDomain: 3, refused: 5 } as const;

export class DnsTestServer {
  /** Names (lower-case, no trailing dot) and their records. Unknown names get NXDOMAIN. */
  readonly zone = new Map<string, TestZoneEntry>();
  mode: DnsServerMode = 'answer';
  /** Every query received, in order. */
  readonly queries: { name: string; type: 'A' | 'AAAA' | number }[] = [];
  #socket: Socket | undefined;

  /** Binds to 127.0.0.1 on a port the kernel picks; returns `127.0.0.1:port` for `Resolver.setServers`. */
  async start(): Promise<string> {
    const socket = createSocket('udp4');
    this.#socket = socket;
    socket.on('message', (message, remote) => this.#answer(message, remote));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return `127.0.0.1:${socket.address().port}`;
  }

  async stop(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** Back to answering from an empty table, with no queries recorded. */
  reset(): void {
    this.mode = 'answer';
    this.zone.clear();
    this.queries.length = 0;
  }

  set(name: string, entry: TestZoneEntry): void {
    this.zone.set(name.toLowerCase(), entry);
  }

  queryCount(type?: 'A' | 'AAAA'): number {
    return type === undefined ? this.queries.length : this.queries.filter((q) => q.type === type).length;
  }

  #answer(message: Buffer, remote: RemoteInfo): void {
    if (message.length < 12) return;
    const question = readQuestion(message, 12);
    if (question === undefined) return;
    const { name, type, end } = question;
    this.queries.push({ name, type: type === TYPE_A ? 'A' : type === TYPE_AAAA ? 'AAAA' : type });
    if (this.mode === 'drop') return;
    let rcode: number = RCODE.noError;
    let records: TestRecord[] = [];
    if (this.mode === 'servfail') rcode = RCODE.servFail;
    else if (this.mode === 'refused') rcode = RCODE.refused;
    else {
      const entry = this.mode === 'nxdomain' ? undefined : this.zone.get(name);
      if (entry === undefined) rcode = RCODE.nxDomain;
      else records = (type === TYPE_A ? entry.a : type === TYPE_AAAA ? entry.aaaa : undefined) ?? [];
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(message.readUInt16BE(0), 0); // id
    const queryFlags = message.readUInt16BE(2);
    // QR, the query's opcode, AA, the query's RD, RA, rcode.
    header.writeUInt16BE(0x8000 | (queryFlags & 0x7800) | 0x0400 | (queryFlags & 0x0100) | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    const answers = records.map((record) => encodeAnswer(type, record));
    const reply = Buffer.concat([header, message.subarray(12, end), ...answers]);
    this.#socket?.send(reply, remote.port, remote.address);
  }
}

function readQuestion(
  message: Buffer,
  offset: number,
): { name: string; type: number; end: number } | undefined {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    if (at >= message.length) return undefined;
    const length = message[at]!;
    at++;
    if (length === 0) break;
    if (length > 63 || at + length > message.length) return undefined; // no compression in queries
    labels.push(message.toString('latin1', at, at + length));
    at += length;
  }
  if (at + 4 > message.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: message.readUInt16BE(at), end: at + 4 };
}

function encodeAnswer(type: number, record: TestRecord): Buffer {
  const data = type === TYPE_A ? encodeIPv4(record.address) : encodeIPv6(record.address);
  const answer = Buffer.alloc(12 + data.length);
  answer.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  answer.writeUInt16BE(type, 2);
  answer.writeUInt16BE(1, 4); // class IN
  answer.writeUInt32BE(record.ttl, 6);
  answer.writeUInt16BE(data.length, 10);
  data.copy(answer, 12);
  return answer;
}

function encodeIPv4(address: string): Buffer {
  return Buffer.from(address.split('.').map((part) => Number(part)));
}

function encodeIPv6(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: ${address}`);
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const headGroups = head === '' ? [] : head!.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => {
    out.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  });
  return out;
}
