import { z } from 'zod';
import { edgeConfigSchema } from '../edge/edge-config.js';
import { GroundworkError } from './errors.js';

/**
 * The one configuration schema: defaults, validation and the README's table all come from here.
 * Sources are layered: defaults < config file < environment < CLI flags. Only `src/server`
 * reads `process.env`; it hands the raw values to `resolveConfig`.
 */

const bool = z.preprocess((v) => {
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no' || v === '') return false;
  return v;
}, z.boolean());
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const port = int(0, 65535);
const optionalPath = z.string().min(1).optional();
/** A 32-byte key as base64 / base64url (43 characters, optional `=`) or 64 hex digits. */
const kekText = () =>
  z
    .string()
    .trim()
    .regex(
      /^(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)$/,
      'a 32-byte key as base64 (e.g. openssl rand -base64 32) or 64 hex digits',
    );

const ipRulesSchema = z.strictObject({
  allow: z.array(z.string().min(1)).default([]),
  deny: z.array(z.string().min(1)).default([]),
});

const corsSchema = z.strictObject({
  enabled: bool.default(false).describe('Answer CORS preflights and add CORS headers for allowed origins.'),
  origins: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Allowed origins: exact ("https://app.example.com"), wildcard subdomain ("https://*.example.com"), regex ("/^https:\\/\\/.+\\.test$/"), or ["*"].',
    ),
  methods: z.array(z.string().min(1)).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
  allowedHeaders: z
    .union([z.literal('*'), z.array(z.string().min(1))])
    .default([
      'authorization',
      'content-type',
      'idempotency-key',
      'if-match',
      'if-none-match',
      'x-request-id',
    ]),
  exposedHeaders: z
    .array(z.string().min(1))
    .default([
      'ratelimit',
      'ratelimit-policy',
      'retry-after',
      'x-request-id',
      'etag',
      'location',
      'link',
      'idempotent-replayed',
    ]),
  credentials: bool.default(false),
  maxAgeS: int(0, 86_400).default(600),
});

const rateLimitPolicySchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
  algorithm: z.enum(['fixed-window', 'sliding-window-log', 'sliding-window-counter', 'token-bucket', 'gcra']),
  limit: int(1, 1_000_000_000),
  windowMs: int(1, 31 * 24 * 3_600_000),
});

const rateLimitSchema = z.strictObject({
  enabled: bool.default(false).describe('Rate-limit requests (429 + Retry-After + RateLimit headers).'),
  storeUrl: z
    .string()
    .min(1)
    .optional()
    .describe('redis://… to share limits across nodes; default: in-process memory.'),
  keyPrefix: z.string().default('gw:rl:'),
  failMode: z
    .enum(['open', 'closed'])
    .default('open')
    .describe('When the store is unreachable: allow (open) or refuse with 503 (closed).'),
  key: z
    .array(z.enum(['ip', 'user', 'api-key', 'route']))
    .min(1)
    .default(['ip'])
    .describe(
      'What identifies a caller for limits; several parts are combined. user/api-key fall back to ip for anonymous calls.',
    ),
  policies: z
    .array(rateLimitPolicySchema)
    .min(1)
    .default([{ name: 'default', algorithm: 'sliding-window-counter', limit: 600, windowMs: 60_000 }])
    .describe('Every policy must allow a request (e.g. a 1 s burst limit and an hourly quota).'),
});

const concurrencySchema = z.strictObject({
  maxInFlight: int(0, 1_000_000)
    .default(0)
    .describe(
      'Requests processed at once per route before the excess gets 503 + Retry-After (load shedding); 0 = no limit.',
    ),
  retryAfterS: int(1, 3_600).default(1),
});

const idempotencySchema = z.strictObject({
  enabled: bool
    .default(true)
    .describe(
      'Honour Idempotency-Key on the listed methods: replay the stored response, 409 while in flight, 422 for a different request.',
    ),
  methods: z.array(z.enum(['POST', 'PATCH', 'PUT', 'DELETE'])).default(['POST', 'PATCH']),
  required: bool
    .default(false)
    .describe('Refuse (400) requests on those methods that carry no Idempotency-Key.'),
  ttlMs: int(1_000, 30 * 24 * 3_600_000)
    .default(24 * 3_600_000)
    .describe('How long a key and its stored response are kept.'),
  leaseMs: int(100, 3_600_000)
    .default(30_000)
    .describe('How long an unfinished request holds its key before a retry may run again (crash recovery).'),
  sweepIntervalMs: int(1_000, 24 * 3_600_000)
    .default(60_000)
    .describe('How often expired keys are deleted.'),
});

const routeOverrideSchema = z.strictObject({
  path: z.string().regex(/^\/[^\s]*$/, 'must start with / (a trailing * matches any suffix)'),
  methods: z.array(z.string().min(1)).optional(),
  ipRules: ipRulesSchema.partial().optional(),
  cors: z.strictObject({ enabled: bool }).optional(),
  rateLimit: rateLimitSchema.partial().optional(),
  concurrency: concurrencySchema.partial().optional(),
  idempotency: idempotencySchema.partial().optional(),
});

export const configSchema = z.strictObject({
  dataDir: z
    .string()
    .min(1)
    .default('./data')
    .describe('Directory for the embedded database, dev TLS certificate and other local state.'),
  log: z
    .strictObject({
      level: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info')
        .describe('Minimum level of the structured JSON log on stdout.'),
    })
    .prefault({}),
  server: z
    .strictObject({
      host: z
        .string()
        .min(1)
        .default('127.0.0.1')
        .describe('Address to listen on. Use 0.0.0.0 or :: to accept remote clients.'),
      port: port.default(8080).describe('Port to listen on; 0 picks a free port.'),
      tls: z
        .strictObject({
          certFile: optionalPath.describe(
            'PEM certificate chain. With keyFile, serves HTTPS with HTTP/1.1 and HTTP/2 (ALPN).',
          ),
          keyFile: optionalPath.describe('PEM private key for certFile.'),
          dev: bool
            .default(false)
            .describe(
              'Generate (once) a self-signed certificate for localhost into the data dir and serve HTTPS.',
            ),
          redirectPort: port
            .optional()
            .describe(
              'If set with TLS, a plain HTTP listener on this port redirects every request to HTTPS (308).',
            ),
          hstsMaxAgeS: int(0, 63_072_000)
            .default(31_536_000)
            .describe(
              'Strict-Transport-Security max-age in seconds, sent on TLS responses; 0 disables HSTS.',
            ),
        })
        .prefault({}),
      limits: z
        .strictObject({
          bodyBytes: int(0, 1 << 30)
            .default(1_048_576)
            .describe('Largest request body in bytes; larger gets 413.'),
          headerBytes: int(1024, 1 << 20)
            .default(16_384)
            .describe('Largest request head (request line + headers) in bytes; larger gets 431.'),
          headersTimeoutMs: int(100, 600_000)
            .default(10_000)
            .describe(
              'Time allowed to receive the complete request head (slowloris defence); then 408 and close.',
            ),
          requestTimeoutMs: int(0, 3_600_000)
            .default(30_000)
            .describe('Time allowed to receive the whole request; 0 disables.'),
          keepAliveTimeoutMs: int(0, 600_000)
            .default(5_000)
            .describe('How long an idle keep-alive connection stays open.'),
          maxConnections: int(1, 1_000_000)
            .default(10_000)
            .describe('Concurrent connections accepted; further ones are closed at once.'),
          connectionsCheckIntervalMs: int(50, 60_000)
            .default(1_000)
            .describe('How often header/request timeouts are checked.'),
        })
        .prefault({}),
      drainTimeoutMs: int(0, 600_000)
        .default(10_000)
        .describe('On SIGTERM/SIGINT, how long in-flight requests may finish before connections are cut.'),
    })
    .prefault({}),
  gateway: z
    .strictObject({
      trustedProxies: z
        .array(z.string().min(1))
        .default(['127.0.0.0/8', '::1'])
        .describe(
          'Peers (IPs or CIDRs) whose X-Forwarded-For / Forwarded headers are believed when finding the client IP.',
        ),
      ipRules: ipRulesSchema
        .prefault({})
        .describe(
          'Client IP allow/deny lists (CIDR, IPv4 and IPv6). Deny wins; a non-empty allow list admits only its ranges.',
        ),
      cors: corsSchema.prefault({}),
      rateLimit: rateLimitSchema.prefault({}),
      concurrency: concurrencySchema.prefault({}),
      idempotency: idempotencySchema.prefault({}),
      securityHeaders: z
        .strictObject({
          enabled: bool
            .default(true)
            .describe(
              'Send X-Content-Type-Options, Referrer-Policy, X-Frame-Options and a CSP on every response.',
            ),
        })
        .prefault({}),
      routes: z
        .array(routeOverrideSchema)
        .default([])
        .describe(
          'Per-route overrides, first match wins: { path: "/api/v1/*", methods?: [...], cors?, rateLimit?, concurrency?, idempotency?, ipRules? }.',
        ),
    })
    .prefault({}),
  db: z
    .strictObject({
      url: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Database URL: sqlite://PATH (or sqlite::memory:) or postgres://user:pass@host:port/db. Default: sqlite://<dataDir>/groundwork.db.',
        ),
      poolMax: int(1, 1000).default(10).describe('PostgreSQL: most connections in the pool.'),
      connectTimeoutMs: int(100, 600_000)
        .default(5_000)
        .describe('PostgreSQL: time allowed to open a connection.'),
      preparedStatements: bool
        .default(true)
        .describe(
          'PostgreSQL: keep hot queries prepared on each connection (named statements). Turn off behind a pooler that does not track them (PgBouncer transaction mode before 1.21, or without max_prepared_statements).',
        ),
      busyTimeoutMs: int(0, 600_000)
        .default(5_000)
        .describe('SQLite: how long a writer waits for another process holding the lock.'),
      migrateOnStart: bool
        .default(true)
        .describe('Apply pending migrations when the platform starts (else run `groundwork migrate`).'),
    })
    .prefault({}),
  admin: z
    .strictObject({
      email: z
        .email()
        .optional()
        .describe('On start, if no admin exists yet, create one with this email (and admin.password).'),
      password: z
        .string()
        .min(10)
        .max(512)
        .optional()
        .describe('Password for the bootstrap admin (at least 10 characters); never logged.'),
    })
    .prefault({}),
  auth: z
    .strictObject({
      publicUrl: z
        .url()
        .optional()
        .describe(
          'Base URL users reach the API at, for links in mails and the JWT issuer. Default: the listener URL.',
        ),
      trustedOrigins: z
        .array(z.string().regex(/^https?:\/\/[^/]+$/))
        .max(100)
        .default([])
        .describe("Origins besides the server's own whose cookie-authenticated writes pass the CSRF check."),
      sessionIdleTimeoutS: int(60, 31_536_000)
        .default(86_400)
        .describe('A cookie session ends after this long without requests.'),
      sessionAbsoluteTimeoutS: int(60, 31_536_000)
        .default(2_592_000)
        .describe('A cookie session ends this long after sign-in, however active.'),
      accessTokenTtlS: int(30, 86_400).default(900).describe('Lifetime of a JWT access token.'),
      refreshTokenTtlS: int(60, 31_536_000)
        .default(1_209_600)
        .describe('A refresh token unused this long expires (each use rotates it).'),
      refreshFamilyTtlS: int(60, 31_536_000)
        .default(2_592_000)
        .describe('Token sessions end this long after sign-in, however often refreshed.'),
      signingKeyRotateAfterS: int(60, 31_536_000)
        .default(604_800)
        .describe(
          'Access-token signing keys are replaced this often (old ones keep verifying for the token lifetime).',
        ),
      verificationTtlS: int(60, 2_592_000)
        .default(86_400)
        .describe('Lifetime of an email-verification token.'),
      resetTtlS: int(60, 86_400).default(3_600).describe('Lifetime of a password-reset token.'),
      smtpUrl: z
        .string()
        .regex(/^smtps?:\/\//)
        .optional()
        .describe(
          'SMTP server for auth mails (smtp://user:pass@host:port or smtps://…). Unset: mails are captured and listed at GET /api/v1/admin/mail.',
        ),
      mailFrom: z
        .string()
        .max(254)
        .default('Groundwork <no-reply@localhost>')
        .describe('From address of auth mails.'),
      keyEncryptionKey: kekText()
        .optional()
        .describe(
          'Encrypts the access-token signing keys stored in the database (AES-256-GCM): 32 bytes as base64 or 64 hex digits, e.g. `openssl rand -base64 32`. Unset: stored in clear.',
        ),
      previousKeyEncryptionKey: kekText()
        .optional()
        .describe(
          'The key-encryption key being replaced: still decrypts, while every stored key is re-encrypted with keyEncryptionKey.',
        ),
    })
    .prefault({}),
  cache: z
    .strictObject({
      driver: z
        .enum(['memory', 'redis'])
        .default('memory')
        .describe(
          'Where cached record reads live: memory (per node) or redis (shared by the nodes; needs cache.url). Collections opt in with their `cache` setting.',
        ),
      url: z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .optional()
        .describe(
          'redis://… Holds the entries with driver redis, and with either driver the per-collection generation numbers that keep cached reads consistent across nodes. Unset: generations in process (one node).',
        ),
      keyPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_.:/-]{1,64}$/)
        .default('gw:')
        .describe('Namespace in Redis (cache entries, generations) and of bus channels; one per deployment.'),
      memory: z
        .strictObject({
          maxEntries: int(1, 100_000_000)
            .default(10_000)
            .describe('Memory driver: most cached reads held per node (all collections together).'),
          maxBytes: int(1_024, 2 ** 40)
            .default(64 * 1024 * 1024)
            .describe(
              'Memory driver: most bytes (key + JSON length) held per node; the heap needs a few times this.',
            ),
          eviction: z
            .enum(['lru', 'lfu'])
            .default('lru')
            .describe(
              'Memory driver: evict the least recently (lru) or least frequently (lfu) used read first.',
            ),
        })
        .prefault({}),
      invalidationTimeoutMs: int(0, 60_000)
        .default(2_000)
        .describe(
          'How long a write to a strongly consistent cached collection retries its invalidation (generation bump) before answering 503 CACHE_ERR_INVALIDATION_FAILED; the change itself is committed.',
        ),
    })
    .prefault({}),
  bus: z
    .strictObject({
      driver: z
        .enum(['memory', 'redis', 'postgres'])
        .default('memory')
        .describe(
          'Publish/subscribe between nodes (cache invalidation): memory (one node), redis, or postgres (LISTEN/NOTIFY).',
        ),
      url: z
        .string()
        .regex(/^(rediss?|postgres(ql)?):\/\//, 'must be a redis:// or postgres:// URL')
        .optional()
        .describe('Engine URL of the bus. Default: cache.url for redis, db.url for postgres.'),
    })
    .prefault({}),
  data: z
    .strictObject({
      maxPageSize: int(1, 10_000).default(500).describe('Largest `limit` a list request may ask for.'),
      defaultPageSize: int(1, 10_000).default(30).describe('Records per page when `limit` is not given.'),
      maxBatchOperations: int(1, 10_000)
        .default(100)
        .describe('Most operations in one `POST /api/v1/batch`.'),
      maxExpandDepth: int(0, 3)
        .default(2)
        .describe('How many relation levels `expand` may follow (a.b = 2).'),
    })
    .prefault({}),
  edge: edgeConfigSchema.prefault({}),
});

export type GroundworkConfig = z.output<typeof configSchema>;
/** Config after defaults that depend on other keys are filled in. */
export type ResolvedConfig = GroundworkConfig & {
  db: GroundworkConfig['db'] & { url: string };
  /** The bus engine URL, filled in from cache.url / db.url when the driver needs one. */
  bus: GroundworkConfig['bus'] & { url?: string };
};

/** Where each user-facing option can be set besides the config file. */
export interface OptionSource {
  readonly path: string;
  readonly env?: string;
  readonly flag?: string;
  /** Redacted by `config print`; URLs keep everything but their password. */
  readonly secret?: boolean;
}

export const optionSources: readonly OptionSource[] = [
  { path: 'dataDir', env: 'GROUNDWORK_DATA_DIR', flag: 'data-dir' },
  { path: 'log.level', env: 'GROUNDWORK_LOG_LEVEL', flag: 'log-level' },
  { path: 'server.host', env: 'GROUNDWORK_HOST', flag: 'host' },
  { path: 'server.port', env: 'GROUNDWORK_PORT', flag: 'port' },
  { path: 'server.tls.certFile', env: 'GROUNDWORK_TLS_CERT', flag: 'tls-cert' },
  { path: 'server.tls.keyFile', env: 'GROUNDWORK_TLS_KEY', flag: 'tls-key' },
  { path: 'server.tls.dev', env: 'GROUNDWORK_DEV_TLS', flag: 'dev-tls' },
  { path: 'server.tls.redirectPort', env: 'GROUNDWORK_TLS_REDIRECT_PORT', flag: 'redirect-port' },
  { path: 'server.tls.hstsMaxAgeS', env: 'GROUNDWORK_HSTS_MAX_AGE_S' },
  { path: 'server.limits.bodyBytes', env: 'GROUNDWORK_BODY_LIMIT_BYTES' },
  { path: 'server.limits.headerBytes', env: 'GROUNDWORK_HEADER_LIMIT_BYTES' },
  { path: 'server.limits.headersTimeoutMs', env: 'GROUNDWORK_HEADERS_TIMEOUT_MS' },
  { path: 'server.limits.requestTimeoutMs', env: 'GROUNDWORK_REQUEST_TIMEOUT_MS' },
  { path: 'server.limits.keepAliveTimeoutMs', env: 'GROUNDWORK_KEEP_ALIVE_TIMEOUT_MS' },
  { path: 'server.limits.maxConnections', env: 'GROUNDWORK_MAX_CONNECTIONS' },
  { path: 'server.limits.connectionsCheckIntervalMs', env: 'GROUNDWORK_CONNECTIONS_CHECK_INTERVAL_MS' },
  { path: 'server.drainTimeoutMs', env: 'GROUNDWORK_DRAIN_TIMEOUT_MS' },
  { path: 'gateway.rateLimit.enabled', env: 'GROUNDWORK_RATE_LIMIT' },
  { path: 'gateway.rateLimit.storeUrl', env: 'GROUNDWORK_RATE_LIMIT_URL', secret: true },
  { path: 'gateway.cors.enabled', env: 'GROUNDWORK_CORS' },
  { path: 'gateway.idempotency.required', env: 'GROUNDWORK_IDEMPOTENCY_REQUIRED' },
  { path: 'db.url', env: 'GROUNDWORK_DB_URL', flag: 'db-url', secret: true },
  { path: 'db.poolMax', env: 'GROUNDWORK_DB_POOL_MAX' },
  { path: 'db.connectTimeoutMs', env: 'GROUNDWORK_DB_CONNECT_TIMEOUT_MS' },
  { path: 'db.preparedStatements', env: 'GROUNDWORK_DB_PREPARED_STATEMENTS' },
  { path: 'db.busyTimeoutMs', env: 'GROUNDWORK_DB_BUSY_TIMEOUT_MS' },
  { path: 'db.migrateOnStart', env: 'GROUNDWORK_DB_MIGRATE_ON_START', flag: 'migrate' },
  { path: 'admin.email', env: 'GROUNDWORK_ADMIN_EMAIL' },
  { path: 'admin.password', env: 'GROUNDWORK_ADMIN_PASSWORD', secret: true },
  { path: 'auth.publicUrl', env: 'GROUNDWORK_PUBLIC_URL' },
  { path: 'auth.smtpUrl', env: 'GROUNDWORK_SMTP_URL', secret: true },
  { path: 'auth.mailFrom', env: 'GROUNDWORK_MAIL_FROM' },
  { path: 'auth.keyEncryptionKey', env: 'GROUNDWORK_AUTH_KEY_ENCRYPTION_KEY', secret: true },
  { path: 'auth.previousKeyEncryptionKey', env: 'GROUNDWORK_AUTH_PREVIOUS_KEY_ENCRYPTION_KEY', secret: true },
  { path: 'edge', env: 'GROUNDWORK_EDGE' },
  { path: 'cache.driver', env: 'GROUNDWORK_CACHE_DRIVER' },
  { path: 'cache.url', env: 'GROUNDWORK_CACHE_URL', secret: true },
  { path: 'cache.keyPrefix', env: 'GROUNDWORK_CACHE_KEY_PREFIX' },
  { path: 'cache.memory.maxEntries', env: 'GROUNDWORK_CACHE_MAX_ENTRIES' },
  { path: 'cache.memory.maxBytes', env: 'GROUNDWORK_CACHE_MAX_BYTES' },
  { path: 'cache.memory.eviction', env: 'GROUNDWORK_CACHE_EVICTION' },
  { path: 'cache.invalidationTimeoutMs', env: 'GROUNDWORK_CACHE_INVALIDATION_TIMEOUT_MS' },
  { path: 'bus.driver', env: 'GROUNDWORK_BUS_DRIVER' },
  { path: 'bus.url', env: 'GROUNDWORK_BUS_URL', secret: true },
];

type Layer = { name: string; values: Record<string, unknown> };

export interface ConfigInputs {
  /** Parsed config file contents (nested object), if any, and its path for messages. */
  file?: { path: string; values: unknown };
  /** Environment variables (only GROUNDWORK_* are read). */
  env?: Record<string, string | undefined>;
  /** CLI flags by flag name (e.g. `{ port: '9000' }`). */
  flags?: Record<string, string | boolean | undefined>;
}

/**
 * Layer the sources and validate. Throws CONFIG_ERR_INVALID naming the key, the value, where it
 * came from, and what is allowed.
 */
export function resolveConfig(inputs: ConfigInputs): ResolvedConfig {
  const layers: Layer[] = [];
  if (inputs.file) {
    const values = inputs.file.values ?? {};
    if (typeof values !== 'object' || Array.isArray(values)) {
      throw new GroundworkError('CONFIG_ERR_INVALID', {
        detail: `${inputs.file.path}: the top level must be an object`,
      });
    }
    layers.push({ name: inputs.file.path, values: flatten(values as Record<string, unknown>) });
  }
  const envValues: Record<string, unknown> = {};
  const flagValues: Record<string, unknown> = {};
  for (const option of optionSources) {
    const fromEnv = option.env ? inputs.env?.[option.env] : undefined;
    if (fromEnv !== undefined) envValues[option.path] = fromEnv;
    const fromFlag = option.flag ? inputs.flags?.[option.flag] : undefined;
    if (fromFlag !== undefined) flagValues[option.path] = fromFlag;
  }
  layers.push({ name: 'environment', values: envValues });
  layers.push({ name: 'command line', values: flagValues });

  const merged: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  for (const layer of layers) {
    for (const [path, value] of Object.entries(layer.values)) {
      setPath(merged, path, value);
      origin.set(path, layer.name);
    }
  }

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
        return issue.keys
          .map((key) => `${prefix}${key}${sourceLabel(`${prefix}${key}`, origin)}: unknown option`)
          .join('; ');
      }
      const path = issue.path.join('.');
      const source = sourceLabel(path, origin);
      const value = getPath(merged, path);
      // A secret's value is never echoed: a URL keeps all but its password, anything else is hidden.
      const secret = optionSources.some((option) => option.secret && option.path === path);
      const printable = secret && typeof value === 'string' ? redactSecret(value) : value;
      const shown = value === undefined ? '(missing)' : JSON.stringify(printable);
      return `${path || '(root)'} = ${shown}${source}: ${issue.message}`;
    });
    throw new GroundworkError('CONFIG_ERR_INVALID', {
      detail: `Invalid configuration: ${messages.join('; ')}`,
    });
  }
  const config = parsed.data;
  if (Boolean(config.server.tls.certFile) !== Boolean(config.server.tls.keyFile)) {
    throw new GroundworkError('CONFIG_ERR_INVALID', {
      detail: 'Invalid configuration: server.tls.certFile and server.tls.keyFile must be set together',
    });
  }
  const url = config.db.url ?? `sqlite://${config.dataDir.replace(/\/+$/, '')}/groundwork.db`;
  if (config.cache.driver === 'redis' && config.cache.url === undefined) {
    throw new GroundworkError('CONFIG_ERR_INVALID', {
      detail: 'Invalid configuration: cache.driver redis needs cache.url (GROUNDWORK_CACHE_URL)',
    });
  }
  return { ...config, db: { ...config.db, url }, bus: resolveBus(config, url) };
}

/** The bus URL: given, or the cache's Redis / the PostgreSQL database for those drivers. */
function resolveBus(config: GroundworkConfig, dbUrl: string): ResolvedConfig['bus'] {
  const { driver } = config.bus;
  if (driver === 'memory') return config.bus;
  const fallback =
    driver === 'redis' ? config.cache.url : /^postgres(ql)?:\/\//.test(dbUrl) ? dbUrl : undefined;
  // PostgreSQL channel names are identifiers of at most 63 bytes: prefix + the longest topic.
  if (driver === 'postgres' && config.cache.keyPrefix.length > 40) {
    throw new GroundworkError('CONFIG_ERR_INVALID', {
      detail:
        'Invalid configuration: with bus.driver postgres, cache.keyPrefix may have at most 40 characters',
    });
  }
  const url = config.bus.url ?? fallback;
  const scheme = driver === 'redis' ? /^rediss?:\/\// : /^postgres(ql)?:\/\//;
  if (url === undefined || !scheme.test(url)) {
    throw new GroundworkError('CONFIG_ERR_INVALID', {
      detail: `Invalid configuration: bus.driver ${driver} needs a ${driver} URL in bus.url (GROUNDWORK_BUS_URL)${driver === 'redis' ? ' or cache.url' : ' or a PostgreSQL db.url'}`,
    });
  }
  return { ...config.bus, url };
}

function sourceLabel(path: string, origin: Map<string, string>): string {
  const layer = origin.get(path);
  if (!layer) return '';
  const option = optionSources.find((o) => o.path === path);
  if (layer === 'environment' && option?.env) return ` (from ${option.env})`;
  if (layer === 'command line' && option?.flag) return ` (from --${option.flag})`;
  return ` (from ${layer})`;
}

/** `{a: {b: 1}}` → `{'a.b': 1}`; arrays and non-plain values are leaves. */
export function flatten(values: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      Object.assign(out, flatten(value as Record<string, unknown>, path));
    } else {
      out[path] = value;
    }
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}

function getPath(target: Record<string, unknown>, path: string): unknown {
  let node: unknown = target;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** A copy safe to print or log: secret options redacted (a URL keeps all but its password). */
export function redactConfig(config: ResolvedConfig): ResolvedConfig {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  for (const option of optionSources) {
    if (!option.secret) continue;
    const value = getPath(copy, option.path);
    if (typeof value === 'string') setPath(copy, option.path, redactSecret(value));
  }
  return copy as unknown as ResolvedConfig;
}

export function redactSecret(value: string): string {
  // Only a URL with an authority keeps its shape: `abc:def` parses as a URL but is all secret.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return 'REDACTED';
  try {
    const url = new URL(value);
    if (url.password) url.password = 'REDACTED';
    return url.toString();
  } catch {
    return 'REDACTED';
  }
}
