// Groundwork with two bench-only routes, for bench/gateway-pipeline.ts: the platform has no public
// POST route of its own yet, so this registers `GET /bench/get` and `POST /bench/post` (echoing the
// JSON body) on the real Platform from dist/, behind the real gateway pipeline. Everything else —
// port, host, data dir, log level, gateway policies — comes from the config file.
// Plain .mjs run by `node` (not tsx), so no loader sits in the measured process.
// Usage: node bench/servers/groundwork-gateway.mjs CONFIG.json
import { loadConfig } from '../../dist/server/config-loader.js';
import { Platform } from '../../dist/server/platform.js';

const configPath = process.argv[2];
if (!configPath) throw new Error('usage: node bench/servers/groundwork-gateway.mjs CONFIG.json');

const config = loadConfig({ configPath });
const platform = await Platform.create(config);
platform.app.get('/bench/get', { config: { access: 'public' } }, async () => ({ ok: true }));
platform.app.post('/bench/post', { config: { access: 'public' } }, async (request) => ({
  ok: true,
  got: request.body,
}));
await platform.start();

process.once('SIGTERM', () => {
  platform.close().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
});
