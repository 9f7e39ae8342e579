/**
 * Per-route header transforms (`edge.routes[].transform`): which names the schema lets a route edit
 * and why not the others, the compiled edits as pure functions (a property test over random header
 * lists), and the transforms on real sockets — on routes behind the gateway and bypassing it, on a
 * WebSocket upgrade, with bodies still streamed chunk by chunk in both directions.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/core/config.js';
import { GroundworkError } from '../../src/core/errors.js';
import {
  compileRequestTransform,
  compileResponseTransform,
  headerEditProblem,
} from '../../src/edge/proxy/header-transform.js';
import { waitFor } from '../harness/engines.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { request, startUpstream, stopAllUpstreams, type TestUpstream } from './proxy-upstreams.js';
import { acceptWebSocket } from './websocket-test-server.js';

const edge = (transform: unknown) =>
  resolveConfig({
    file: {
      path: 'test',
      values: {
        edge: {
          groups: { api: { targets: [{ url: 'http://127.0.0.1:8081' }] } },
          routes: [{ group: 'api', access: 'public', transform }],
        },
      },
    },
  }).edge;

function configError(transform: unknown): string {
  try {
    edge(transform);
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    return JSON.stringify((error as GroundworkError).detail ?? (error as Error).message);
  }
  throw new Error('the configuration was accepted');
}

describe('transform config', () => {
  it('accepts set and remove in both directions and fills empty defaults', () => {
    const route = edge({
      request: { set: { 'X-Api-Key': 'k 1', 'x-empty': '' }, remove: ['x-debug', 'X-Forwarded-For'] },
      response: { set: { 'cache-control': 'no-store' } },
    }).routes[0]!;
    expect(route.transform).toEqual({
      request: { set: { 'X-Api-Key': 'k 1', 'x-empty': '' }, remove: ['x-debug', 'X-Forwarded-For'] },
      response: { set: { 'cache-control': 'no-store' }, remove: [] },
    });
    expect(edge(undefined).routes[0]!.transform).toBeUndefined();
  });

  it.each([
    ['a hop-by-hop field', { request: { remove: ['Connection'] } }, /connection or framing field/],
    ['Transfer-Encoding', { response: { set: { 'transfer-encoding': 'chunked' } } }, /framing/],
    ['Content-Length', { response: { remove: ['content-length'] } }, /framing/],
    ['Host upstream', { request: { set: { host: 'other.test' } } }, /preserveHost/],
    ['Expect upstream', { request: { set: { expect: '100-continue' } } }, /100 Continue/],
    ['a forged X-Forwarded-For', { request: { set: { 'x-forwarded-for': '10.0.0.1' } } }, /not set/],
    ['a forged Via on responses', { response: { set: { Via: '1.1 x' } } }, /not set/],
    ['a name that is not a token', { request: { remove: ['x bad'] } }, /RFC 9110 token/],
    ['a value with a line break', { request: { set: { 'x-a': 'one\r\nx-b: two' } } }, /header value/],
    ['a value with a leading space', { request: { set: { 'x-a': ' padded' } } }, /header value/],
    ['a name given twice', { request: { set: { 'x-a': '1' }, remove: ['X-A'] } }, /named twice/],
    ['an unknown key', { request: { add: { 'x-a': '1' } } }, /add/],
  ])('refuses %s', (_what, transform, message) => {
    expect(configError(transform)).toMatch(message);
  });

  it('lets the forwarding fields and Via be removed, and any name edited on responses except framing', () => {
    expect(headerEditProblem('request', 'remove', 'X-Forwarded-For')).toBeUndefined();
    expect(headerEditProblem('request', 'remove', 'via')).toBeUndefined();
    expect(headerEditProblem('response', 'remove', 'via')).toBeUndefined();
    expect(headerEditProblem('response', 'set', 'x-forwarded-for')).toBeUndefined();
    expect(headerEditProblem('response', 'set', 'host')).toBeUndefined();
    expect(headerEditProblem('response', 'set', 'set-cookie')).toBeUndefined();
    expect(headerEditProblem('request', 'set', 'authorization')).toBeUndefined();
    expect(headerEditProblem('response', 'set', 'Keep-Alive')).toMatch(/connection/);
    // zod's record drops a "__proto__" key from the config; the rule refuses it should one get through.
    expect(headerEditProblem('response', 'set', '__proto__')).toMatch(/__proto__/);
  });
});

describe('compiled transforms', () => {
  it('request: removes and replaces case-insensitively, keeping the other fields in order', () => {
    const transform = compileRequestTransform({ set: { 'X-Api-Key': 'new' }, remove: ['x-debug'] })!;
    const out = transform([
      'Accept',
      '*/*',
      'x-api-key',
      'old-1',
      'X-DEBUG',
      '1',
      'X-API-KEY',
      'old-2',
      'host',
      'h.test',
    ]);
    expect(out).toEqual(['Accept', '*/*', 'host', 'h.test', 'X-Api-Key', 'new']);
    expect(compileRequestTransform({ set: {}, remove: [] })).toBeUndefined();
    expect(compileRequestTransform(undefined)).toBeUndefined();
  });

  it('response: removes and sets on the lower-case header object', () => {
    const transform = compileResponseTransform({ set: { 'Cache-Control': 'no-store' }, remove: ['Server'] })!;
    const headers: Record<string, string | string[]> = {
      server: 'upstream',
      'cache-control': ['public', 'max-age=60'],
      'content-type': 'text/plain',
    };
    transform(headers);
    expect(headers).toEqual({ 'cache-control': 'no-store', 'content-type': 'text/plain' });
    expect(compileResponseTransform({ set: {}, remove: [] })).toBeUndefined();
  });

  it('request: any header list and edits give exactly the edited list (property)', () => {
    const name = fc.constantFrom('a', 'B', 'x-one', 'X-One', 'x-two', 'Host', 'accept', 'ACCEPT');
    const value = fc.string({ maxLength: 6 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(name, value), { maxLength: 12 }),
        fc.dictionary(name, value, { maxKeys: 3 }),
        fc.array(name, { maxLength: 3 }),
        (fields, set, remove) => {
          const setLower = new Set(Object.keys(set).map((n) => n.toLowerCase()));
          // The schema refuses a name given twice: keep only edits with distinct names.
          const removeOnly = [...new Set(remove.map((n) => n.toLowerCase()))].filter((n) => !setLower.has(n));
          if (setLower.size !== Object.keys(set).length) return;
          const transform = compileRequestTransform({ set, remove: removeOnly });
          const flat = fields.flat();
          const out = transform === undefined ? flat : transform([...flat]);
          const dropped = new Set([...setLower, ...removeOnly]);
          const kept = fields.filter(([n]) => !dropped.has(n.toLowerCase())).flat();
          expect(out).toEqual([...kept, ...Object.entries(set).flat()]);
        },
      ),
    );
  });
});

describe('transforms on real sockets', () => {
  let gw: TestPlatform;
  let echo: TestUpstream;
  /** Set by `/hold`: lets the upstream finish its held response. */
  let release: (() => void) | undefined;

  beforeAll(async () => {
    echo = await startUpstream('echo', (req, res) => {
      if (req.url?.endsWith('/hold')) {
        res.writeHead(200, { 'content-type': 'text/plain', server: 'upstream/1.0' });
        res.write('first ');
        release = () => res.end('last');
        return;
      }
      if (req.url?.endsWith('/stream')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', server: 'upstream/1.0' });
        res.flushHeaders();
        req.pipe(res);
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        server: 'upstream/1.0',
        'x-powered-by': 'test',
        'cache-control': 'public, max-age=60',
      });
      res.end(JSON.stringify({ headers: req.headers, raw: req.rawHeaders }));
    });
    acceptWebSocket(echo);
    const transform = {
      request: { set: { 'X-Api-Key': 'from-edge' }, remove: ['x-debug', 'x-forwarded-for'] },
      response: { set: { 'cache-control': 'no-store' }, remove: ['server', 'X-Powered-By', 'via'] },
    };
    gw = await startTestPlatform({
      log: { level: 'warn' },
      edge: {
        groups: { echo: { targets: [{ url: echo.url }] } },
        routes: [
          { prefix: '/t', group: 'echo', access: 'public', transform },
          { prefix: '/raw', group: 'echo', access: 'public', bypassGateway: true, transform },
          { prefix: '/ws', group: 'echo', access: 'public', transform },
          { prefix: '/plain', group: 'echo', access: 'public' },
        ],
      },
    });
  });

  afterAll(async () => {
    release?.();
    await gw?.close();
    await stopAllUpstreams();
  });

  const clientHeaders = {
    'x-api-key': ['client-1', 'client-2'],
    'X-Debug': 'yes',
    'x-forwarded-for': '203.0.113.9',
    'x-kept': 'kept',
  };

  it.each([
    ['behind the gateway', '/t/echo'],
    ['bypassing the gateway', '/raw/echo'],
  ])('%s: the upstream gets the edited request, the client the edited response', async (_what, path) => {
    const response = await request(`${gw.url}${path}`, { headers: clientHeaders });
    expect(response.status).toBe(200);
    const { headers, raw } = JSON.parse(response.body) as {
      headers: IncomingMessage['headers'];
      raw: string[];
    };
    expect(headers['x-api-key']).toBe('from-edge');
    expect(raw.filter((name) => name.toLowerCase() === 'x-api-key')).toHaveLength(1);
    expect(headers['x-debug']).toBeUndefined();
    expect(headers['x-forwarded-for']).toBeUndefined();
    expect(headers['x-kept']).toBe('kept');
    // The other forwarding fields the edge writes are still there.
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers.forwarded).toMatch(/^for=127\.0\.0\.1;host=/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers.server).toBeUndefined();
    expect(response.headers['x-powered-by']).toBeUndefined();
    expect(response.headers.via).toBeUndefined();
    expect(response.headers['content-type']).toBe('application/json');
  });

  it('leaves the gateway its own response headers and other routes untouched', async () => {
    const edited = await request(`${gw.url}/t/echo`);
    expect(edited.headers['x-request-id']).toMatch(/\S/);
    expect(edited.headers['x-content-type-options']).toBe('nosniff');
    const plain = await request(`${gw.url}/plain/echo`, { headers: clientHeaders });
    const { headers } = JSON.parse(plain.body) as { headers: IncomingMessage['headers'] };
    expect(headers['x-api-key']).toBe('client-1, client-2');
    expect(headers['x-debug']).toBe('yes');
    expect(headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(plain.headers.server).toBe('upstream/1.0');
    expect(plain.headers['cache-control']).toBe('public, max-age=60');
    expect(plain.headers.via).toBe('1.1 groundwork');
  });

  it('sends the edited head before the upstream has finished the body (no buffering)', async () => {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${gw.url}/t/hold`, { agent: false }, resolve).on('error', reject).end();
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers.server).toBeUndefined();
    expect(response.headers['cache-control']).toBe('no-store');
    let body = '';
    response.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
    });
    await waitFor(() => body === 'first ', { timeoutMs: 5_000, what: 'the first chunk' });
    const ended = new Promise<void>((resolve) => response.on('end', () => resolve()));
    release!();
    await ended;
    expect(body).toBe('first last');
  });

  it('streams a request body up and its echo back chunk by chunk on a transformed route', async () => {
    const req = httpRequest(`${gw.url}/t/stream`, {
      method: 'PUT',
      agent: false,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const responded = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve).on('error', reject);
    });
    req.write('chunk-0;');
    const response = await responded;
    expect(response.headers.server).toBeUndefined();
    let received = '';
    response.setEncoding('utf8').on('data', (chunk: string) => {
      received += chunk;
    });
    // Lockstep: each chunk must come back before the next is sent, which a buffering proxy never does.
    let sent = 'chunk-0;';
    await waitFor(() => received === sent, { timeoutMs: 5_000, what: 'the echo of chunk 0' });
    for (let i = 1; i <= 3; i++) {
      req.write(`chunk-${i};`);
      sent += `chunk-${i};`;
      await waitFor(() => received === sent, { timeoutMs: 5_000, what: `the echo of chunk ${i}` });
    }
    const ended = new Promise<void>((resolve) => response.on('end', () => resolve()));
    req.end();
    await ended;
    expect(received).toBe(sent);
  });

  it('edits the upgrade request of a WebSocket', async () => {
    const port = new URL(gw.url).port;
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws/chat`);
    const opened = new Promise<void>((resolve, reject) => {
      client.addEventListener('open', () => resolve());
      client.addEventListener('error', () => reject(new Error('the WebSocket did not open')));
    });
    await opened;
    const upgrade = echo.received.find((r) => r.url === '/ws/chat')!;
    expect(upgrade.headers['x-api-key']).toBe('from-edge');
    expect(upgrade.headers['x-forwarded-for']).toBeUndefined();
    expect(upgrade.headers.upgrade).toBe('websocket');
    const closed = new Promise<void>((resolve) => client.addEventListener('close', () => resolve()));
    client.close(1000, 'done');
    await closed;
  });
});
