import net from 'node:net';

export interface RawResult {
  /** Everything the server sent until it closed the connection (or the timeout). */
  text: string;
  status: number | undefined;
  closedByServer: boolean;
  elapsedMs: number;
}

/**
 * Writes raw bytes to a server and collects the reply: for requests no well-behaved client would
 * send (smuggling, bad chunking, slowloris). Resolves when the server closes or after `timeoutMs`.
 */
export function rawExchange(port: number, payload: string | Buffer, timeoutMs = 5_000): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({
        text,
        status: match ? Number(match[1]) : undefined,
        closedByServer,
        elapsedMs: performance.now() - started,
      });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish(true);
      else reject(error);
    });
    socket.on('connect', () => socket.write(payload));
  });
}

/** The JSON body of a raw HTTP/1.1 response with Content-Length. */
export function rawBody(text: string): unknown {
  const index = text.indexOf('\r\n\r\n');
  return JSON.parse(text.slice(index + 4));
}
