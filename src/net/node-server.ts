import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../core/error-codes.js';
import { errorCodes } from '../core/error-codes.js';
import { PROBLEM_CONTENT_TYPE, problemType } from '../core/errors.js';

export interface ServerLimits {
  bodyBytes: number;
  headerBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  connectionsCheckIntervalMs: number;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type NodeServer = http.Server | http2.Http2SecureServer;

/**
 * The listening socket: plain HTTP/1.1, or HTTPS speaking HTTP/2 and HTTP/1.1 chosen by ALPN.
 * Node's llhttp parser is used strictly (never `insecureHTTPParser`): it rejects Content-Length
 * together with Transfer-Encoding, duplicate Content-Length, bad chunk sizes and bare LF, so
 * smuggling attempts end as 400 here and never reach a route.
 */
export function createNodeServer(
  handler: RequestHandler,
  limits: ServerLimits,
  tls?: { cert: Buffer; key: Buffer },
): NodeServer {
  const http1Options: http.ServerOptions = {
    maxHeaderSize: limits.headerBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckIntervalMs,
    insecureHTTPParser: false,
    // Checked in http-app.ts instead, so the 400 is problem+json like every other error.
    requireHostHeader: false,
  };
  let server: NodeServer;
  if (tls) {
    server = http2.createSecureServer(
      {
        ...http1Options,
        cert: tls.cert,
        key: tls.key,
        allowHTTP1: true,
        minVersion: 'TLSv1.2',
        settings: { maxHeaderListSize: limits.headerBytes, maxConcurrentStreams: 256 },
        maxSessionMemory: 10,
      } as http2.SecureServerOptions,
      handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    // HTTP/1.1 over the TLS listener uses these; the http2 constructor does not read them all.
    const h1 = server as unknown as http.Server;
    h1.headersTimeout = limits.headersTimeoutMs;
    h1.requestTimeout = limits.requestTimeoutMs;
    h1.keepAliveTimeout = limits.keepAliveTimeoutMs;
  } else {
    server = http.createServer(http1Options, handler);
  }
  server.maxConnections = limits.maxConnections;
  return server;
}

/**
 * Answers a request the parser refused, before any route sees it, with problem+json. Node's
 * defaults (431 for an oversized head, 408 for a slow one, 400 otherwise) are kept as statuses.
 */
export function handleClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 'HTTP_ERR_HEADERS_TOO_LARGE'
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'HTTP_ERR_REQUEST_TIMEOUT'
        : 'HTTP_ERR_BAD_REQUEST';
  const info = errorCodes[code];
  const body = JSON.stringify({
    type: problemType(code),
    title: info.title,
    status: info.status,
    code,
    detail: code === 'HTTP_ERR_BAD_REQUEST' ? 'The request could not be parsed as HTTP/1.1.' : undefined,
  });
  socket.end(
    `HTTP/1.1 ${info.status} ${http.STATUS_CODES[info.status]}\r\n` +
      `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** Plain-HTTP listener that sends every request to the HTTPS origin (308 keeps the method). */
export function createRedirectServer(httpsPort: () => number, limits: ServerLimits): http.Server {
  return http.createServer(
    {
      maxHeaderSize: limits.headerBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
    },
    (req, res) => {
      const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '').replace(/[^A-Za-z0-9.\-[\]:]/g, '');
      const target = httpsPort();
      const port = target === 443 ? '' : `:${target}`;
      res.writeHead(308, { location: `https://${host}${port}${req.url ?? '/'}`, 'content-length': '0' });
      res.end();
    },
  );
}
