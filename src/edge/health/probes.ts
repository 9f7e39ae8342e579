/**
 * Ready-made probes for `ActiveHealthChecker`: an HTTP request to a health path (L7 groups) and a
 * TCP connect (L4 routes, e.g. PostgreSQL replicas). Both reject with the reason on failure and
 * honour the checker's abort signal (the socket is destroyed), so a probe never outlives its timeout.
 *
 * The HTTP probe uses its own connection per probe (`agent: false`, `Connection: close`): a probe
 * should prove the target accepts new connections, not that an old keep-alive socket is still open,
 * and it must not take a slot in the proxy's pool. It reads and discards at most the body the target
 * sends, and passes on the status alone.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

export interface HttpProbeOptions {
  signal: AbortSignal;
  /** Default `GET`. */
  method?: string;
  headers?: Readonly<Record<string, string>>;
  /** Which statuses pass. Default 200–399 (redirects included: the target answered). */
  expectStatus?: (status: number) => boolean;
  /** For https URLs: verify the certificate. Default true. */
  rejectUnauthorized?: boolean;
}

const defaultExpect = (status: number): boolean => status >= 200 && status < 400;

/** Requests `url`; resolves with the status when it passes, rejects otherwise. */
export function probeHttp(url: URL | string, options: HttpProbeOptions): Promise<number> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const client = target.protocol === 'https:' ? https : http;
  const expect = options.expectStatus ?? defaultExpect;
  return new Promise<number>((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: { connection: 'close', 'user-agent': 'groundwork-health-check', ...options.headers },
        agent: false,
        signal: options.signal,
        rejectUnauthorized: options.rejectUnauthorized ?? true,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        response.once('error', () => {});
        if (expect(status)) resolve(status);
        else reject(new Error(`health check ${target.pathname} answered ${status}`));
      },
    );
    request.once('error', reject);
    request.end();
  });
}

/** Opens a TCP connection to `host:port` and closes it at once; resolves when it connected. */
export function probeTcp(host: string, port: number, options: { signal: AbortSignal }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (options.signal.aborted) {
      reject(options.signal.reason);
      return;
    }
    const socket = net.connect({ host, port });
    const onAbort = (): void => {
      socket.destroy();
      reject(options.signal.reason);
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      options.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      options.signal.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}
