import net from 'node:net';

/**
 * Ports below the kernel's ephemeral range (32768–60999 on Linux by default), so a port picked here
 * is never one the kernel hands to an outgoing connection a moment later.
 */
const LOW = 20_000;
const HIGH = 32_767;
const handedOut = new Set<number>();

/**
 * A port that was free on `host` a moment ago, in 20000–32767. The check binds and releases it, so
 * another process can still take it before the caller does: callers that start a server retry with a
 * new port when binding fails. Never returns the same port twice in one process.
 */
export async function freePort(host = '127.0.0.1', attempts = 100): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (handedOut.has(port)) continue;
    if (await canBind(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${LOW}-${HIGH} on ${host} after ${attempts} attempts`);
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
