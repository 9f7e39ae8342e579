// Parse Server as a benchmark peer for bench/data-rest.ts: Express + ParseServer mounted at /parse,
// against a given PostgreSQL database. Fixed appId and masterKey (loopback only), no dashboard, no
// cloud code, no LiveQuery, no log files, log level warn (Parse logs each request at `verbose`, so
// nothing is written per request — as Groundwork's `--log-level warn`).
// Plain .mjs run by `node`, so no loader sits in the measured process.
//
//   node bench/peers/parse-server/server.mjs --port P --database-uri postgres://…
//
// Ready when GET /parse/health answers 200 {"status":"ok"}. SIGTERM closes the HTTP server and the
// database pool, then exits 0.
//
// Dependencies (package.json here, with its own lockfile; bench/data-rest.ts runs `npm ci` in this
// directory when node_modules is missing): parse-server 9.10.0, the newest release that runs on
// Node 20.19+. `router` is pinned to 2.2.0: parse-server requires `router/lib/layer` without
// declaring it, and router 2.3.0 (Nov 2026) changed `Layer#match` to return the params instead of
// setting `layer.params`, which makes every sub-request of Parse's POST /parse/batch fail with 500.
import http from 'node:http';
import { parseArgs } from 'node:util';

// Parse builds a default logger when it is first imported, with a ./logs folder in the working
// directory unless this says otherwise (hence the dynamic imports below).
process.env.PARSE_SERVER_LOGS_FOLDER = 'null';
const { default: express } = await import('express');
const { ParseServer } = await import('parse-server');

const APP_ID = 'groundwork-bench';
const MASTER_KEY = 'groundwork-bench-master-key';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'database-uri': { type: 'string' },
  },
});
if (!values.port || !values['database-uri']) {
  throw new Error('usage: node server.mjs --port P --database-uri postgres://… [--host 127.0.0.1]');
}
const port = Number(values.port);
const serverURL = `http://${values.host}:${port}/parse`;

const parse = new ParseServer({
  databaseURI: values['database-uri'],
  appId: APP_ID,
  masterKey: MASTER_KEY,
  masterKeyIps: ['127.0.0.1', '::1'],
  serverURL,
  logLevel: 'warn',
  logsFolder: null,
  // Classes are made through the schema API with the master key, never implicitly by a write.
  allowClientClassCreation: false,
  mountGraphQL: false,
});
await parse.start();

const app = express();
app.disable('x-powered-by');
app.use('/parse', parse.app);
const server = http.createServer(app);
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, values.host, resolve);
});

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  parse.handleShutdown().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
});
