/**
 * Proxying from Groundwork's TLS listener, where clients speak HTTP/2: pseudo-headers become the
 * upstream's HTTP/1.1 request line and Host, request bodies stream from DATA frames, the response's
 * connection-specific fields (forbidden in HTTP/2) are removed, and HSTS is added as on every TLS
 * response. The upstream is plain HTTP/1.1 on loopback.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { startUpstream, stopAllUpstreams, type TestUpstream } from './proxy-upstreams.js';

let gw: TestPlatform;
let upstream: TestUpstream;
let ca: Buffer;

beforeAll(async () => {
  upstream = await startUpstream('h1', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
      });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          host: req.headers.host,
          proto: req.headers['x-forwarded-proto'],
          via: req.headers.via,
          body: Buffer.concat(chunks).toString(),
          pseudo: Object.keys(req.headers).filter((name) => name.startsWith(':')),
        }),
      );
    });
  });
  gw = await startTestPlatform({
    log: { level: 'warn' },
    server: { tls: { dev: true } },
    edge: {
      groups: { h1: { targets: [{ url: upstream.url }] } },
      routes: [{ prefix: '/api2', group: 'h1', access: 'public' }],
    },
  });
  ca = readFileSync(join(gw.platform.config.dataDir, 'tls', 'dev-cert.pem'));
});

afterAll(async () => {
  await gw?.close();
  await stopAllUpstreams();
});

function h2Request(
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  const session = http2.connect(gw.url, { ca });
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let text = '';
    stream.on('response', (h) => {
      responseHeaders = h;
    });
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    stream.on('end', () => {
      session.close();
      resolve({ headers: responseHeaders, body: text });
    });
    stream.on('error', (error) => {
      session.close();
      reject(error);
    });
    if (body !== undefined) stream.end(body);
  });
}

describe('HTTP/2 clients', () => {
  it('proxies a GET: :authority becomes Host, no pseudo-headers upstream, HSTS and Via on the answer', async () => {
    const { headers, body } = await h2Request({ ':method': 'GET', ':path': '/api2/items?x=1' });
    expect(headers[':status']).toBe(200);
    const seen = JSON.parse(body);
    expect(seen).toMatchObject({
      method: 'GET',
      url: '/api2/items?x=1',
      proto: 'https',
      via: '2 groundwork',
      body: '',
    });
    expect(seen.host).toBe(new URL(gw.url).host);
    expect(seen.pseudo).toEqual([]);
    expect(headers.connection).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(headers.via).toBe('1.1 groundwork');
  });

  it('streams a request body sent in DATA frames without Content-Length', async () => {
    const { headers, body } = await h2Request(
      { ':method': 'POST', ':path': '/api2/upload' },
      'hello over h2',
    );
    expect(headers[':status']).toBe(200);
    expect(JSON.parse(body).body).toBe('hello over h2');
  });
});
