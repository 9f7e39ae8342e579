// fastify 5 + @fastify/reply-from as a reverse proxy: a benchmark peer of bench/edge-proxy.ts.
// reply-from given several bases balances over them with undici's BalancedPool (round robin, skipping
// targets that fail); `--policies` adds @fastify/rate-limit (in-memory store, per client IP) and one
// request header through reply-from's `rewriteRequestHeaders`. Logging off.
//
//   node bench/peers/edge-proxy/fastify-reply-from.mjs --port P --upstreams URL,URL,URL [--policies]
import rateLimit from '@fastify/rate-limit';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import {
  exitOnSigterm,
  PREFIX,
  peerArgs,
  RATE_LIMIT,
  RATE_WINDOW_MS,
  TRANSFORM_HEADER,
  TRANSFORM_VALUE,
} from './common.mjs';

const { port, upstreams, policies } = peerArgs();
const app = Fastify({ logger: false });
if (policies) await app.register(rateLimit, { max: RATE_LIMIT, timeWindow: RATE_WINDOW_MS });
await app.register(replyFrom, {
  base: upstreams.length === 1 ? upstreams[0] : upstreams,
  undici: { connections: 256, pipelining: 1 },
});
const options = policies
  ? { rewriteRequestHeaders: (_request, headers) => ({ ...headers, [TRANSFORM_HEADER]: TRANSFORM_VALUE }) }
  : undefined;
app.get(`${PREFIX}/*`, (request, reply) => reply.from(`/${request.params['*']}`, options));
await app.listen({ port, host: '127.0.0.1' });
exitOnSigterm(() => app.close());
