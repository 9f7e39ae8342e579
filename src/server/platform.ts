import type { FastifyInstance } from 'fastify';
import { registerAdminKeyRoutes } from '../auth/admin-keys-routes.js';
import { bootstrapAdmin } from '../auth/admins.js';
import { ApiKeys } from '../auth/api-keys.js';
import { AuthApi } from '../auth/auth-api.js';
import { Authenticator } from '../auth/authenticator.js';
import { Bus } from '../bus/bus.js';
import type { BusDriver } from '../bus/bus-driver.js';
import { MemoryBusDriver } from '../bus/drivers/memory-bus-driver.js';
import { PostgresBusDriver } from '../bus/drivers/postgres-bus-driver.js';
import { RedisBusDriver } from '../bus/drivers/redis-bus-driver.js';
import { Cache } from '../cache/cache.js';
import { CacheMetrics } from '../cache/cache-metrics.js';
import type { CacheStore } from '../cache/cache-store.js';
import { MemoryCacheStore } from '../cache/drivers/memory-cache-store.js';
import { RedisCacheStore } from '../cache/drivers/redis-cache-store.js';
import type { ResolvedConfig } from '../core/config.js';
import type { Component } from '../core/lifecycle.js';
import { Lifecycle } from '../core/lifecycle.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Metrics } from '../core/metrics.js';
import { type GenerationStore, MemoryGenerationStore } from '../data/cache/generations.js';
import { RedisGenerationStore } from '../data/cache/redis-generation-store.js';
import { DataApi } from '../data/data-api.js';
import { Database } from '../db/database.js';
import { migrate } from '../db/migrations/runner.js';
import { systemMigrations } from '../db/migrations/system.js';
import { Edge } from '../edge/edge.js';
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
  /** Wraps the configured bus driver (fault injection in tests: `DelayedBusDriver`). */
  busDriver?: (configured: BusDriver) => BusDriver;
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
  /** Publish/subscribe between nodes (cache invalidation today). */
  bus!: Bus;
  /** The cache of record reads (`records`; per collection in the `scope` metric label). */
  cache!: Cache;
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
    const bus = new Bus({
      driver: (options.busDriver ?? ((driver) => driver))(busDriverFor(config)),
      channelPrefix: config.cache.keyPrefix,
      logger,
      metrics,
    });
    const cache = new Cache({
      name: 'records',
      store: cacheStoreFor(config),
      metrics: new CacheMetrics(metrics.registry),
      onError: (error, event) => logger.debug({ err: error, ...event }, 'cache store failure survived'),
    });
    const generations: GenerationStore =
      config.cache.url === undefined
        ? new MemoryGenerationStore()
        : new RedisGenerationStore({ url: config.cache.url, keyPrefix: config.cache.keyPrefix });
    const data = new DataApi({
      database,
      logger,
      config,
      cache: {
        cache,
        generations,
        bus,
        metricsRegistry: metrics.registry,
        invalidationTimeoutMs: config.cache.invalidationTimeoutMs,
        sharedDatabase: database.capabilities.crossProcess,
      },
    });
    const platform = new Platform(config, logger, metrics, database, http, data);
    platform.bus = bus;
    platform.cache = cache;
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
    // Fail-open: a cache engine that is down at start-up (or later) never stops the node from
    // serving; reads go to the database until it answers (so no readiness check either).
    platform.lifecycle.add(failOpen(bus, logger));
    platform.lifecycle.add(failOpen(cache, logger));
    platform.lifecycle.add(failOpen(generations, logger));
    if (data.recordCache) platform.lifecycle.add(data.recordCache);
    platform.lifecycle.add(auth);
    platform.lifecycle.add(gateway);
    if (config.edge.serveApi) {
      registerAdminKeyRoutes(httpApp.app, { apiKeys });
      data.register(httpApp.app);
      auth.register(httpApp.app);
    }
    registerHealthRoutes(httpApp.app, { components: () => platform.lifecycle.components, metrics });
    // The reverse proxy, when routes are configured: after the gateway's hooks, before the listener.
    if (config.edge.routes.length > 0) {
      const edge = new Edge({ config, http: httpApp, metrics, logger, authenticator });
      edge.install();
      platform.lifecycle.add(edge);
    }
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

function busDriverFor(config: ResolvedConfig): BusDriver {
  const { driver, url } = config.bus;
  if (driver === 'redis') return new RedisBusDriver({ url });
  if (driver === 'postgres') return new PostgresBusDriver({ url: url! });
  return new MemoryBusDriver();
}

function cacheStoreFor(config: ResolvedConfig): CacheStore {
  const { driver, url, keyPrefix, memory } = config.cache;
  if (driver === 'redis') return new RedisCacheStore({ url, keyPrefix: `${keyPrefix}cache:` });
  return new MemoryCacheStore({
    maxEntries: memory.maxEntries,
    maxBytes: memory.maxBytes,
    eviction: memory.eviction,
  });
}

/** A component whose failure to start is logged, not fatal, and that reports no readiness. */
function failOpen(component: Component, logger: Logger): Component {
  return {
    name: component.name,
    start: () =>
      component.start().catch((error: unknown) => {
        logger.warn(
          { err: error, component: component.name },
          'not available at start; continuing without it',
        );
      }),
    close: () => component.close(),
  };
}
