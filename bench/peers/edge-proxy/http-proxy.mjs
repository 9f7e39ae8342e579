// http-proxy (node-http-proxy) as a reverse proxy: a benchmark peer of bench/edge-proxy.ts. Plain
// `node:http` server, a keep-alive agent to the upstreams, X-Forwarded-* added (`xfwd`), round robin
// by a counter. `--policies`: http-proxy has no rate limiter, so the shared fixed-window counter per
// client IP (common.mjs), and one request header through http-proxy's `headers` option.
//
//   node bench/peers/edge-proxy/http-proxy.mjs --port P --upstreams URL,URL,URL [--policies]
import http from 'node:http';
import httpProxy from 'http-proxy';
import {
  exitOnSigterm,
  fixedWindowLimiter,
  PREFIX,
  peerArgs,
  TRANSFORM_HEADER,
  TRANSFORM_VALUE,
} from './common.mjs';

const { port, upstreams, policies } = peerArgs();
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
proxy.on('error', (_error, _req, res) => {
  if (!res.headersSent) res.writeHead(502);
  res.end();
});
const allow = fixedWindowLimiter();
const headers = { [TRANSFORM_HEADER]: TRANSFORM_VALUE };
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
  req.url = url.slice(PREFIX.length);
  const target = upstreams[next];
  next = (next + 1) % upstreams.length;
  proxy.web(req, res, policies ? { target, headers } : { target });
});
server.listen(port, '127.0.0.1');
exitOnSigterm(() => new Promise((resolve) => server.close(resolve)));
