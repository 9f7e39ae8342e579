import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ApiKeys } from '../auth/api-keys.js';
import {
  clusterDown,
  clusterKill,
  clusterRestart,
  clusterStatus,
  clusterUp,
} from '../cluster/local/local-cluster.js';
import { redactConfig } from '../core/config.js';
import { GroundworkError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { Database } from '../db/database.js';
import { migrate } from '../db/migrations/runner.js';
import { systemMigrations } from '../db/migrations/system.js';
import { BALANCER_NAMES, isBalancerName } from '../edge/balancers/balancer.js';
import { loadConfig } from '../server/config-loader.js';
import { Platform } from '../server/platform.js';
import { runUntilSignal } from '../server/run.js';

const USAGE = `Usage: groundwork <command> [options]

Commands:
  start            Run the platform (HTTP API, database, migrations)
  migrate          Apply pending database migrations and exit
  config print     Print the effective configuration (secrets redacted)
  admin key create --name NAME [--expires-at ISO]
                   Create an admin API key; prints the key alone on stdout (shown once)
  cluster up [--nodes N] [--lb ALGORITHM] [--db-url URL] [--redis-url URL]
                   Start a local cluster: PostgreSQL + Redis (unless URLs are given), N API
                   nodes and an edge node in front (state under <data-dir>/cluster)
  cluster status   Each process of the local cluster: PID, port, health, requests served
  cluster kill NODE | cluster restart NODE
                   Crash (SIGKILL) or restart one process, e.g. node-2, edge, redis
  cluster down     Stop everything the cluster started, by PID
  help             Show this help

Options (each overrides the config file and GROUNDWORK_* environment variables):
  --config PATH        Config file (JSON or YAML); default ./groundwork.config.{json,yaml,yml}
  --host ADDR          Listen address (GROUNDWORK_HOST, default 127.0.0.1)
  --port N             Listen port (GROUNDWORK_PORT, default 8080)
  --data-dir DIR       Data directory (GROUNDWORK_DATA_DIR, default ./data)
  --db-url URL         sqlite://PATH or postgres://… (GROUNDWORK_DB_URL)
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (GROUNDWORK_LOG_LEVEL)
  --dev-tls            Serve HTTPS with a generated self-signed certificate
  --tls-cert PATH      PEM certificate (GROUNDWORK_TLS_CERT)
  --tls-key PATH       PEM private key (GROUNDWORK_TLS_KEY)
  --redirect-port N    With TLS: plain HTTP port that redirects to HTTPS
`;

const OPTIONS = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  'db-url': { type: 'string' },
  'log-level': { type: 'string' },
  'dev-tls': { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'redirect-port': { type: 'string' },
  name: { type: 'string' },
  'expires-at': { type: 'string' },
  nodes: { type: 'string' },
  lb: { type: 'string' },
  'redis-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** Runs one CLI command; resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`groundwork: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = positionals.join(' ');
  if (values.help || command === 'help' || command === '') {
    process.stdout.write(USAGE);
    return command === '' && !values.help ? 2 : 0;
  }
  const {
    config: configPath,
    help: _help,
    version: _version,
    name: keyName,
    'expires-at': expiresAt,
    nodes: _nodes,
    lb: _lb,
    'redis-url': _redisUrl,
    ...flags
  } = values;
  if (positionals[0] === 'cluster') return clusterCommand(positionals.slice(1), { ...values, configPath });

  try {
    const config = loadConfig({ configPath, flags });
    switch (command) {
      case 'start': {
        const platform = await Platform.create(config);
        await platform.start();
        // Exit explicitly: work abandoned by the drain timeout (timers, handlers) must not keep us alive.
        process.exit(await runUntilSignal(platform));
        break;
      }
      case 'migrate': {
        const logger = createLogger(config.log.level, pino.destination(2));
        const database = new Database({ ...config.db, logger });
        try {
          await database.start();
          const result = await migrate(database, systemMigrations, logger);
          process.stdout.write(
            result.applied.length > 0 ? `applied: ${result.applied.join(', ')}\n` : 'no pending migrations\n',
          );
        } finally {
          await database.close();
        }
        return 0;
      }
      case 'admin key create': {
        if (!keyName || keyName.length > 100) {
          process.stderr.write('groundwork: admin key create needs --name NAME (1–100 characters)\n');
          return 2;
        }
        const expires = expiresAt === undefined ? undefined : Date.parse(expiresAt);
        if (expires !== undefined && !Number.isFinite(expires)) {
          process.stderr.write('groundwork: --expires-at must be an RFC 3339 date-time\n');
          return 2;
        }
        const logger = createLogger(config.log.level, pino.destination(2));
        const database = new Database({ ...config.db, logger });
        try {
          await database.start();
          await migrate(database, systemMigrations, logger);
          const { key } = await new ApiKeys(database).create({
            name: keyName,
            role: 'admin',
            ...(expires !== undefined ? { expiresAt: new Date(expires).toISOString() } : {}),
          });
          process.stdout.write(`${key}\n`);
        } finally {
          await database.close();
        }
        return 0;
      }
      case 'config print':
        process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
        return 0;
      default:
        process.stderr.write(`groundwork: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof GroundworkError) {
      process.stderr.write(`groundwork: ${error.code}: ${error.detail ?? error.title}\n`);
    } else {
      process.stderr.write(`groundwork: ${(error as Error).message}\n`);
    }
    return 1;
  }
}

/** `groundwork cluster …`: the local cluster (src/cluster/local). */
async function clusterCommand(
  args: readonly string[],
  values: {
    configPath?: string | undefined;
    nodes?: string | undefined;
    lb?: string | undefined;
    'redis-url'?: string | undefined;
    'db-url'?: string | undefined;
    'data-dir'?: string | undefined;
  },
): Promise<number> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const config = loadConfig({
      configPath: values.configPath,
      flags: values['data-dir'] !== undefined ? { 'data-dir': values['data-dir'] } : {},
    });
    const dataDir = config.dataDir;
    const [sub, name, ...rest] = args;
    if (rest.length > 0) throw new Error(`unexpected arguments: ${rest.join(' ')}`);
    switch (sub) {
      case 'up': {
        const lbName = values.lb ?? 'round-robin';
        if (!isBalancerName(lbName)) throw new Error(`--lb must be one of: ${BALANCER_NAMES.join(', ')}`);
        await clusterUp(
          {
            dataDir,
            nodes: values.nodes === undefined ? 3 : Number(values.nodes),
            lb: lbName,
            dbUrl: values['db-url'],
            redisUrl: values['redis-url'],
          },
          print,
        );
        print(`cluster up: the edge is the first URL to use; state in ${dataDir}/cluster`);
        return 0;
      }
      case 'status': {
        const rows = await clusterStatus(dataDir);
        print(
          `${'NAME'.padEnd(10)}${'KIND'.padEnd(10)}${'PID'.padEnd(9)}${'PORT'.padEnd(7)}${'STATE'.padEnd(11)}REQUESTS  URL`,
        );
        for (const r of rows) {
          const state = !r.alive ? 'down' : r.healthy ? 'healthy' : 'unhealthy';
          print(
            `${r.name.padEnd(10)}${r.kind.padEnd(10)}${String(r.pid).padEnd(9)}${String(r.port).padEnd(7)}${state.padEnd(11)}${String(r.requests ?? '-').padEnd(10)}${r.url}`,
          );
        }
        return 0;
      }
      case 'kill':
      case 'restart': {
        if (!name) throw new Error(`cluster ${sub} needs a process name (see: groundwork cluster status)`);
        const p = sub === 'kill' ? await clusterKill(dataDir, name) : await clusterRestart(dataDir, name);
        print(sub === 'kill' ? `killed ${p.name} (pid ${p.pid})` : `restarted ${p.name} (pid ${p.pid})`);
        return 0;
      }
      case 'down': {
        const stopped = await clusterDown(dataDir);
        print(`stopped ${stopped} process(es)`);
        return 0;
      }
      default:
        process.stderr.write(`groundwork: unknown cluster command "${args.join(' ')}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    process.stderr.write(`groundwork: ${(error as Error).message}\n`);
    return 1;
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
