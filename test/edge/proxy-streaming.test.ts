/**
 * Streaming through the edge, on real sockets: request and response bodies flow chunk by chunk in
 * both directions (each step below waits for the previous chunk to come through, so a proxy that
 * buffered a whole body would deadlock and time out), backpressure reaches the upstream when the
 * client stops reading, SSE events arrive one at a time, and WebSocket connections pass through
 * both ways with their close.
 */
import { createHash } from 'node:crypto';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { startUpstream, stopAllUpstreams, type TestUpstream } from './proxy-upstreams.js';
import { acceptWebSocket, type TestWebSocketServer } from './websocket-test-server.js';

let gw: TestPlatform;
let upstream: TestUpstream;
let ws: TestWebSocketServer;
/** Set by the SSE handler: resolves the upstream's wait for the client to see event n. */
const sseAcks: (() => void)[] = [];
/** Backpressure probe of the `/flood` handler. */
const flood = { written: 0, blocked: false, done: false };
const FLOOD_BYTES = 64 * 1024 * 1024;

beforeAll(async () => {
  upstream = await startUpstream('stream', (req, res) => {
    if (req.url === '/echo') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      req.pipe(res);
      return;
    }
    if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      void (async () => {
        for (let n = 1; n <= 5; n++) {
          const acked = new Promise<void>((resolve) => sseAcks.push(resolve));
          res.write(`id: ${n}\ndata: event ${n}\n\n`);
          await acked;
        }
        res.end();
      })();
      return;
    }
    if (req.url === '/flood') {
      flood.written = 0;
      flood.done = false;
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(FLOOD_BYTES),
      });
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (flood.written < FLOOD_BYTES) {
          flood.written += chunk.length;
          if (!res.write(chunk)) {
            flood.blocked = true;
            res.once('drain', () => {
              flood.blocked = false;
              pump();
            });
            return;
          }
        }
        flood.done = true;
        res.end();
      };
      pump();
      return;
    }
    res.writeHead(404).end();
  });
  ws = acceptWebSocket(upstream);
  gw = await startTestPlatform({
    log: { level: 'warn' },
    edge: {
      groups: { stream: { targets: [{ url: upstream.url }] } },
      routes: [{ prefix: '/', group: 'stream', access: 'public', timeouts: { idleMs: 0 } }],
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await stopAllUpstreams();
});

const port = () => Number(new URL(gw.url).port);

describe('bodies stream both ways', () => {
  it('each request chunk reaches the upstream and comes back before the next is sent', async () => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: port(),
      path: '/echo',
      method: 'PUT',
      agent: false,
      headers: { 'content-type': 'application/octet-stream' },
    });
    // undici sends the request head upstream together with the first body chunk, so the upstream's
    // answer (and with it the client's response) starts once that chunk is on its way.
    const first = Buffer.alloc(1_000, 64);
    const responded = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve).on('error', reject);
    });
    req.write(first);
    const response = await responded;
    expect(response.statusCode).toBe(200);
    const reader = chunkReader(response);
    expect((await reader.read(first.length)).equals(first)).toBe(true);
    // Lockstep: a chunk goes up, and only when its echo came back through the edge is the next sent.
    for (let i = 0; i < 5; i++) {
      const chunk = Buffer.alloc(1_000, 65 + i);
      req.write(chunk);
      const back = await reader.read(chunk.length);
      expect(back.equals(chunk)).toBe(true);
    }
    // Then a large body in bulk: 8 MiB each way, intact.
    const big = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    const expected = createHash('sha256').update(big).digest('hex');
    const received = reader.read(big.length);
    await writeAll(req, big);
    req.end();
    expect(
      createHash('sha256')
        .update(await received)
        .digest('hex'),
    ).toBe(expected);
  });

  it('a client that stops reading stops the upstream (backpressure), and nothing is lost', async () => {
    const req = httpRequest({ host: '127.0.0.1', port: port(), path: '/flood', agent: false });
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve).on('error', reject).end();
    });
    response.pause();
    let last = -1;
    let still = 0;
    await waitFor(
      () => {
        still = flood.blocked && flood.written === last ? still + 1 : 0;
        last = flood.written;
        return still >= 3;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the upstream to be held back by the paused client' },
    );
    // Only socket buffers hold data: far less than the body.
    expect(flood.written).toBeLessThan(FLOOD_BYTES / 2);
    expect(flood.done).toBe(false);
    let total = 0;
    response.on('data', (chunk: Buffer) => {
      total += chunk.length;
    });
    response.resume();
    await new Promise<void>((resolve) => response.on('end', () => resolve()));
    expect(total).toBe(FLOOD_BYTES);
    expect(flood.done).toBe(true);
  });
});

describe('server-sent events', () => {
  it('arrive one by one as the upstream writes them (the next is written only after the client saw one)', async () => {
    sseAcks.length = 0;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest({
        host: '127.0.0.1',
        port: port(),
        path: '/sse',
        agent: false,
        headers: { accept: 'text/event-stream' },
      })
        .on('response', resolve)
        .on('error', reject)
        .end();
    });
    expect(response.headers['content-type']).toBe('text/event-stream');
    const events: string[] = [];
    let buffer = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      buffer += chunk;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        events.push(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        sseAcks.shift()?.();
        end = buffer.indexOf('\n\n');
      }
    });
    await new Promise<void>((resolve) => response.on('end', () => resolve()));
    expect(events).toEqual([1, 2, 3, 4, 5].map((n) => `id: ${n}\ndata: event ${n}`));
  });
});

describe('WebSocket', () => {
  it('passes messages both ways and propagates a close from the client', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${port()}/ws/chat?room=1`);
    const messages: string[] = [];
    client.addEventListener('message', (event) => messages.push(String(event.data)));
    await new Promise<void>((resolve, reject) => {
      client.addEventListener('open', () => resolve());
      client.addEventListener('error', () => reject(new Error('websocket error')));
    });
    client.send('hello');
    client.send('world');
    await waitFor(() => messages.length >= 2, { timeoutMs: 5_000, what: 'two echoes' });
    expect(messages).toEqual(['echo: hello', 'echo: world']);
    const connection = ws.connections.at(-1)!;
    expect(connection.path).toBe('/ws/chat?room=1');
    connection.send('pushed by the server');
    await waitFor(() => messages.length >= 3, { timeoutMs: 5_000, what: 'a server push' });
    expect(messages[2]).toBe('pushed by the server');
    const closed = new Promise<number>((resolve) => client.addEventListener('close', (e) => resolve(e.code)));
    client.close(4000, 'bye');
    expect(await closed).toBe(4000);
    await waitFor(() => connection.closeCode === 4000 && connection.ended, {
      timeoutMs: 5_000,
      what: 'the upstream to see the close frame and the connection end',
    });
  });

  it('propagates a close from the upstream', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${port()}/ws/other`);
    await new Promise<void>((resolve) => client.addEventListener('open', () => resolve()));
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      client.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })),
    );
    ws.connections.at(-1)!.close(4001, 'server says bye');
    expect(await closed).toEqual({ code: 4001, reason: 'server says bye' });
  });

  it('relays a refused handshake as the upstream answered it', async () => {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest({
        host: '127.0.0.1',
        port: port(),
        path: '/ws/forbidden',
        agent: false,
        headers: {
          connection: 'upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      })
        .on('response', resolve)
        .on('upgrade', () => reject(new Error('unexpected upgrade')))
        .on('error', reject)
        .end();
    });
    expect(response.statusCode).toBe(403);
    response.resume();
  });
});

/** Reads exact byte counts from a response as it streams. */
function chunkReader(stream: IncomingMessage) {
  let buffered = Buffer.alloc(0);
  let waiting: { n: number; resolve: (b: Buffer) => void } | undefined;
  const check = () => {
    if (waiting && buffered.length >= waiting.n) {
      const out = buffered.subarray(0, waiting.n);
      buffered = buffered.subarray(waiting.n);
      const { resolve } = waiting;
      waiting = undefined;
      resolve(Buffer.from(out));
    }
  };
  stream.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    check();
  });
  return {
    read(n: number): Promise<Buffer> {
      return new Promise((resolve) => {
        waiting = { n, resolve };
        check();
      });
    },
  };
}

async function writeAll(req: ClientRequest | Duplex, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; i += 256 * 1024) {
    if (!req.write(data.subarray(i, i + 256 * 1024))) {
      await new Promise<void>((resolve) => req.once('drain', () => resolve()));
    }
  }
}
