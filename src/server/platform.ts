import type { FastifyInstance } from 'fastify';
import { registerAdminKeyRoutes } from '../auth/admin-keys-routes.js';
import { bootstrapAdmin } from '../auth/admins.js';
import { ApiKeys } from '../auth/api-keys.js';
import { AuthApi } from '../auth/auth-api.js';
import { Authenticator } from '../auth/authenticator.js';
import type { ResolvedConfig } from '../core/config.js';
import { Lifecycle } from '../core/lifecycle.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Metrics } from '../core/metrics.js';
import { DataApi } from '../data/data-api.js';
import { Database } from '../db/database.js';
import { migrate } from '../db/migrations/runner.js';
import { systemMigrations } from '../db/migrations/system.js';
import { Gateway } from '../gateway/pipeline.js';
import { ensureDevCertificate, readTlsFiles } from '../net/dev-cert.js';
import { createHttpApp } from '../net/http-app.js';
import { HttpListener } from '../net/http-listener.js';
import { createRedirectServer } from '../net/node-server.js';
import { registerHealthRoutes } from './routes/health.js';

export interface PlatformOptions {
  logger?: Logger;
  /** Prometheus process metrics (off in tests that build many platforms in one process). */
  processMetrics?: boolean;
}

/**
 * The composition root: turns a resolved config into wired components, started in dependency
 * order (database → migrations → gateway → HTTP) and closed in reverse.
 */
export class Platform {
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly database: Database;
  readonly http: HttpListener;
  readonly data: DataApi;
  /** The auth block (set right after construction: it needs the platform's URL). */
  auth!: AuthApi;
  readonly lifecycle = new Lifecycle();

  private constructor(
    config: ResolvedConfig,
    logger: Logger,
    metrics: Metrics,
    database: Database,
    http: HttpListener,
    data: DataApi,
  ) {
    this.data = data;
    this.config = config;
    this.logger = logger;
    this.metrics = metrics;
    this.database = database;
    this.http = http;
  }

  static async create(config: ResolvedConfig, options: PlatformOptions = {}): Promise<Platform> {
    const logger = options.logger ?? createLogger(config.log.level);
    const metrics = new Metrics({ processMetrics: options.processMetrics ?? true });
    const tlsFiles = config.server.tls.dev ? await ensureDevCertificate(config.dataDir) : config.server.tls;
    const tls =
      tlsFiles.certFile && tlsFiles.keyFile
        ? await readTlsFiles({ certFile: tlsFiles.certFile, keyFile: tlsFiles.keyFile })
        : undefined;

    const database = new Database({ ...config.db, logger });
    const httpApp = createHttpApp({
      limits: config.server.limits,
      ...(tls ? { tls } : {}),
      hstsMaxAgeS: config.server.tls.hstsMaxAgeS,
      logger,
      metrics,
    });
    const http = new HttpListener(httpApp, {
      host: config.server.host,
      port: config.server.port,
      drainTimeoutMs: config.server.drainTimeoutMs,
    });
    // Gateway hooks go on before any route, so every route passes the same policy pipeline.
    const apiKeys = new ApiKeys(database);
    const authenticator = new Authenticator(apiKeys);
    const gateway = new Gateway({ config, database, metrics, logger, authenticator });
    gateway.install(httpApp.app);
    const data = new DataApi({ database, logger, config });
    const platform = new Platform(config, logger, metrics, database, http, data);
    const auth = new AuthApi({
      database,
      data,
      apiKeys,
      authenticator,
      config,
      logger,
      metrics,
      publicUrl: () => platform.url,
    });
    platform.auth = auth;

    platform.lifecycle.add(database);
    if (config.db.migrateOnStart) {
      platform.lifecycle.add({
        name: 'migrations',
        start: async () => void (await migrate(database, systemMigrations, logger)),
        close: async () => undefined,
      });
    }
    platform.lifecycle.add({
      name: 'admin-bootstrap',
      start: async () => void (await bootstrapAdmin(database, config.admin, logger)),
      close: async () => undefined,
    });
    platform.lifecycle.add(data.registry);
    platform.lifecycle.add(auth);
    platform.lifecycle.add(gateway);
    registerAdminKeyRoutes(httpApp.app, { apiKeys });
    data.register(httpApp.app);
    auth.register(httpApp.app);
    registerHealthRoutes(httpApp.app, { components: () => platform.lifecycle.components, metrics });
    platform.lifecycle.add(http);
    const redirectPort = config.server.tls.redirectPort;
    if (tls && redirectPort !== undefined) {
      const redirect = createRedirectServer(() => http.port, config.server.limits);
      platform.lifecycle.add({
        name: 'http-redirect',
        start: () =>
          new Promise<void>((resolve, reject) => {
            redirect.once('error', reject).listen(redirectPort, config.server.host, () => resolve());
          }),
        close: () =>
          new Promise<void>((resolve) => {
            redirect.close(() => resolve());
            redirect.closeAllConnections();
          }),
      });
    }
    return platform;
  }

  /** The Fastify app: blocks register their routes here before `start`. */
  get app(): FastifyInstance {
    return this.http.app;
  }

  /** Base URL of the running listener, e.g. `http://127.0.0.1:8080`. */
  get url(): string {
    const host = this.config.server.host.includes(':')
      ? `[${this.config.server.host}]`
      : this.config.server.host;
    return `${this.http.secure ? 'https' : 'http'}://${host}:${this.http.port}`;
  }

  async start(): Promise<void> {
    await this.lifecycle.start();
    this.logger.info({ url: this.url, db: this.database.dialect }, 'groundwork started');
  }

  close(): Promise<void> {
    return this.lifecycle.close();
  }
}
