/**
 * The `Host` an upstream receives, per the group's `preserveHost`, and the client's other fields
 * around it, for plain requests (behind the gateway and with `bypassGateway`) and for WebSocket
 * handshakes: `preserveHost: false` sends the target's `host:port`, `true` the client's `Host`;
 * either way `Host` is sent once, and every other end-to-end field arrives as the client sent it
 * (name case, value, order, repeated fields), followed by the forwarding fields. Requests are
 * written byte for byte on a socket, so the order and case the upstream sees are the client's.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { startUpstream, stopAllUpstreams, type TestUpstream } from './proxy-upstreams.js';

let gw: TestPlatform;
let upstream: TestUpstream;
/** The raw header list of every request and handshake the upstream received, in order. */
const seen: string[][] = [];

beforeAll(async () => {
  upstream = await startUpstream('hosts', (req, res) => {
    seen.push(req.rawHeaders);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  upstream.onUpgrade((req, socket) => {
    seen.push(req.rawHeaders);
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno');
  });
  const targets = [{ url: upstream.url }];
  gw = await startTestPlatform({
    edge: {
      groups: {
        keep: { targets, preserveHost: true },
        rewrite: { targets, preserveHost: false },
      },
      routes: [
        { prefix: '/keep', group: 'keep', access: 'public' },
        { prefix: '/rewrite', group: 'rewrite', access: 'public' },
        { prefix: '/raw-keep', group: 'keep', access: 'public', bypassGateway: true },
        { prefix: '/raw-rewrite', group: 'rewrite', access: 'public', bypassGateway: true },
      ],
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await stopAllUpstreams();
});

const CLIENT_HOST = 'shop.example.test:8080';
/** Fields the edge writes itself (forwarding, and undici's connection management). */
const EDGE_FIELDS = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'via',
  'connection',
  'upgrade',
]);

/** Sends `fields` (a `Host` among them, not first) after `requestLine`; the raw headers upstream saw. */
async function upstreamSaw(requestLine: string, fields: [string, string][]): Promise<string[]> {
  const before = seen.length;
  const response = await exchange(
    `${requestLine}\r\n${fields.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`,
  );
  expect(response).toMatch(/^HTTP\/1\.1 (200|403) /);
  expect(seen.length).toBe(before + 1);
  return seen[before]!;
}

/** Writes `text` on a new connection and reads until the edge closes it. */
function exchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', reject);
    socket.write(text);
  });
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

function expectHostAndFields(raw: readonly string[], host: string, clientFields: [string, string][]): void {
  const fields = pairs(raw);
  const hosts = fields.filter(([name]) => name.toLowerCase() === 'host');
  expect(hosts).toEqual([[expect.any(String), host]]);
  expect(fields[0]![0].toLowerCase()).toBe('host');
  // The client's end-to-end fields, unchanged and in order; its Connection / Upgrade are hop-by-hop.
  expect(fields.filter(([name]) => !EDGE_FIELDS.has(name.toLowerCase()))).toEqual(
    clientFields.filter(([name]) => !EDGE_FIELDS.has(name.toLowerCase())),
  );
  // The forwarding fields name the client's Host whatever is sent upstream.
  expect(fields.filter(([name]) => name.toLowerCase() === 'x-forwarded-host')).toEqual([
    ['x-forwarded-host', CLIENT_HOST],
  ]);
}

describe('Host sent upstream', () => {
  const fields: [string, string][] = [
    ['X-First', 'one'],
    ['Host', CLIENT_HOST],
    ['Accept', 'text/plain'],
    ['X-Dup', 'a'],
    ['X-Dup', 'b'],
    ['Connection', 'close'],
  ];

  it.each([
    ['behind the gateway', '/rewrite'],
    ['bypassing the gateway', '/raw-rewrite'],
  ])('preserveHost false, %s: the target host:port; the other fields intact', async (_how, prefix) => {
    const raw = await upstreamSaw(`GET ${prefix}/x HTTP/1.1`, fields);
    expectHostAndFields(raw, `127.0.0.1:${upstream.port}`, fields);
  });

  it.each([
    ['behind the gateway', '/keep'],
    ['bypassing the gateway', '/raw-keep'],
  ])("preserveHost true, %s: the client's Host; the other fields intact", async (_how, prefix) => {
    const raw = await upstreamSaw(`GET ${prefix}/x HTTP/1.1`, fields);
    expectHostAndFields(raw, CLIENT_HOST, fields);
  });

  describe('WebSocket handshake', () => {
    const handshake: [string, string][] = [
      ['X-First', 'one'],
      ['Host', CLIENT_HOST],
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ['X-Dup', 'a'],
      ['X-Dup', 'b'],
    ];

    it('preserveHost false: the target host:port; the other fields intact', async () => {
      const raw = await upstreamSaw('GET /rewrite/ws HTTP/1.1', handshake);
      expectHostAndFields(raw, `127.0.0.1:${upstream.port}`, handshake);
      expect(pairs(raw)).toContainEqual(['upgrade', 'websocket']);
    });

    it("preserveHost true: the client's Host; the other fields intact", async () => {
      const raw = await upstreamSaw('GET /keep/ws HTTP/1.1', handshake);
      expectHostAndFields(raw, CLIENT_HOST, handshake);
    });
  });
});
