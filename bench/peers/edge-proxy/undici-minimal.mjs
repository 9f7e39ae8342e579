// The minimal undici proxy: the floor for a Node proxy on the same HTTP client as Groundwork's edge
// (undici is resolved from the repository root, the version the edge runs). Plain `node:http`, one
// undici `Pool` per upstream (256 connections, no pipelining), `pool.stream()` straight into the
// response; routing is a prefix test and strip, balancing a round-robin counter; headers pass as they
// are (no forwarding headers), no timeouts, retries, health checks or metrics. `--policies`: the
// shared fixed-window counter per client IP (common.mjs) and one request header set.
//
//   node bench/peers/edge-proxy/undici-minimal.mjs --port P --upstreams URL,URL,URL [--policies]
import http from 'node:http';
import { createRequire } from 'node:module';
import {
  exitOnSigterm,
  fixedWindowLimiter,
  PREFIX,
  peerArgs,
  TRANSFORM_HEADER,
  TRANSFORM_VALUE,
} from './common.mjs';

const { Pool } = createRequire(new URL('../../../package.json', import.meta.url))('undici');
const { port, upstreams, policies } = peerArgs();
const pools = upstreams.map((url) => new Pool(url, { connections: 256, pipelining: 1 }));
const allow = fixedWindowLimiter();
let next = 0;
const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (!url.startsWith(`${PREFIX}/`)) {
    res.writeHead(404).end();
    return;
  }
  if (policies && !allow(req.socket.remoteAddress)) {
    res.writeHead(429).end();
    return;
  }
  const pool = pools[next];
  next = (next + 1) % pools.length;
  pool.stream(
    {
      path: url.slice(PREFIX.length),
      method: req.method,
      headers: policies ? { ...req.headers, [TRANSFORM_HEADER]: TRANSFORM_VALUE } : req.headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
    },
    ({ statusCode, headers }) => {
      delete headers.connection;
      delete headers['keep-alive'];
      delete headers['transfer-encoding'];
      res.writeHead(statusCode, headers);
      return res;
    },
    (error) => {
      if (error && !res.headersSent) res.writeHead(502).end();
      else if (error) res.destroy();
    },
  );
});
server.listen(port, '127.0.0.1');
exitOnSigterm(() => new Promise((resolve) => server.close(resolve)));
