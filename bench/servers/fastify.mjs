// Bare Fastify 5 peer for bench/http-baseline.ts: the framework Groundwork is built on, with no
// logger, hooks or plugins, so the gap to Groundwork is the platform's own per-request work.
// Usage: node bench/servers/fastify.mjs --port N [--host 127.0.0.1]
import { parseArgs } from 'node:util';
import Fastify from 'fastify';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) throw new Error('--port N is required');

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ status: 'ok' }));

await app.listen({ port, host: values.host ?? '127.0.0.1' });
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
