import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';

let gw: TestPlatform;
let ca: Buffer;
let redirectPort: number;

beforeAll(async () => {
  redirectPort = await freePort();
  gw = await startTestPlatform({ server: { tls: { dev: true, redirectPort } } });
  ca = readFileSync(join(gw.platform.config.dataDir, 'tls', 'dev-cert.pem'));
});

afterAll(() => gw.close());

describe('TLS listener (dev certificate)', () => {
  it('negotiates HTTP/2 by ALPN and serves /healthz with HSTS', async () => {
    const session = http2.connect(gw.url, { ca });
    try {
      const { status, headers, body, alpn } = await new Promise<{
        status: number;
        headers: http2.IncomingHttpHeaders;
        body: string;
        alpn: string | false | undefined;
      }>((resolve, reject) => {
        const stream = session.request({ ':path': '/healthz' });
        let body = '';
        let headers: http2.IncomingHttpHeaders = {};
        stream.on('response', (h) => {
          headers = h;
        });
        stream.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        stream.on('end', () =>
          resolve({ status: Number(headers[':status']), headers, body, alpn: session.alpnProtocol }),
        );
        stream.on('error', reject);
      });
      expect(alpn).toBe('h2');
      expect(status).toBe(200);
      expect(JSON.parse(body)).toEqual({ status: 'ok' });
      expect(headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    } finally {
      session.close();
    }
  });

  it('still speaks HTTP/1.1 over TLS to clients without h2, and reuses the connection', async () => {
    const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; socketPort: number; hsts: string | undefined }>((resolve, reject) => {
        https
          .get(`${gw.url}/healthz`, { agent }, (res) => {
            const socketPort = res.socket.localPort ?? 0;
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                socketPort,
                hsts: res.headers['strict-transport-security'],
              }),
            );
          })
          .on('error', reject);
      });
    const first = await get();
    const second = await get();
    agent.destroy();
    expect(first.status).toBe(200);
    expect(first.hsts).toContain('max-age=');
    expect(second.socketPort).toBe(first.socketPort); // keep-alive: same client socket
  });

  it('redirects plain HTTP to HTTPS with 308, keeping path and query', async () => {
    const response = await fetch(`http://127.0.0.1:${redirectPort}/healthz?probe=1`, { redirect: 'manual' });
    expect(response.status).toBe(308);
    expect(response.headers.get('location')).toBe(
      `https://127.0.0.1:${gw.platform.http.port}/healthz?probe=1`,
    );
  });

  it('reuses the generated certificate on the next start', async () => {
    const second = await startTestPlatform({
      dataDir: gw.platform.config.dataDir,
      server: { tls: { dev: true } },
    });
    try {
      expect(readFileSync(join(gw.platform.config.dataDir, 'tls', 'dev-cert.pem'))).toEqual(ca);
    } finally {
      await second.close();
    }
  });
});
