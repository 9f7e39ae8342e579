// Bare node:http peer for bench/http-baseline.ts: the floor any Node framework builds on.
// Plain .mjs run by `node` (not tsx), so no loader sits in the measured process.
// Usage: node bench/servers/node-http.mjs --port N [--host 127.0.0.1]
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) throw new Error('--port N is required');

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    // Serialised per request, as a framework would, and with the same headers Fastify sends.
    const body = JSON.stringify({ status: 'ok' });
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  res.writeHead(404, { 'content-length': '0' });
  res.end();
});

server.listen(port, values.host ?? '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
