/**
 * Cache-aside for record reads (by id and lists) with invalidation on write, per collection
 * (`cache` in the collection definition). The design and its guarantee are in
 * docs/architecture.md, "Caching record reads"; in short:
 *
 * - **Keys** hash everything that shapes the result: the collection and its definition version,
 *   the read's options (id or filter, sort, limit, cursor/offset, total, fields, expand), the
 *   caller's rule-relevant identity (`read-plan.ts`), and the **generation** of every collection the
 *   result depends on.
 * - **Writes** bump the generations of the collections they touched after commit and before the
 *   response (`afterCommit`), so a read that starts after the acknowledgement builds a new key and
 *   misses. Old entries are never updated, only left behind: dropped at once on this node, on
 *   other nodes when the bus message arrives, and by their TTL anyway.
 * - `consistency: strong` reads the generations from the shared store on every cached read;
 *   `eventual` uses this node's copy, kept current by bus messages (staleness: bus delay, TTL).
 * - **Fail-open:** when generations cannot be read, the read goes to the database uncached. A
 *   write whose bump fails is retried for `invalidationTimeoutMs`; if a strongly cached
 *   collection depends on what it touched, it is then answered `CACHE_ERR_INVALIDATION_FAILED`
 *   (committed, not acknowledged), and the bump keeps being retried in the background while this
 *   node reads those collections uncached.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { Bus, Unsubscribe } from '../../bus/bus.js';
import type { Cache } from '../../cache/cache.js';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import { authValues, type Principal } from '../../gateway/principal.js';
import type { CollectionDef } from '../collections/collection.js';
import type { CollectionRegistry } from '../collections/collection-registry.js';
import type { CommittedChange } from '../outbox/outbox.js';
import type { ExpandTree, ListOptions, ReadOptions } from '../records/read-options.js';
import { etagOf, type StoredRecord } from '../records/record-rows.js';
import type { ListResult } from '../records/records.js';
import { EntryBudget } from './entry-budget.js';
import type { GenerationStore } from './generations.js';
import type { ReadPlan } from './read-plan.js';

/** A read by id as cached: the response body and what the HTTP layer needs besides. */
export interface CachedView {
  readonly etag: string;
  /** The record's `updated` (for Last-Modified). */
  readonly updated: string;
  readonly body: Record<string, unknown>;
}

/** A record a route wrote, for write-through (`generation`: its collection's, read before the write). */
export interface WrittenRecord {
  readonly def: CollectionDef;
  readonly stored: StoredRecord;
  readonly generation: number | undefined;
}

export interface RecordCacheOptions {
  cache: Cache;
  generations: GenerationStore;
  /** Carries invalidations to the other nodes; absent = this node only. */
  bus?: Bus;
  registry: CollectionRegistry;
  logger: Logger;
  /** Registry for `data_cache_*` counters (the `cache_*` ones come from the Cache's CacheMetrics). */
  metricsRegistry?: Registry;
  /** How long a write retries a failed generation bump before giving up, ms. */
  invalidationTimeoutMs: number;
  /** The database is shared by several processes (PostgreSQL): warn if generations are not. */
  sharedDatabase?: boolean;
}

/** The bus topic of invalidations: `{ g: { <collection>: <new generation> } }`. */
export const INVALIDATION_TOPIC = 'data.cache.invalidate';
const KEY_VERSION = 'r1';
/** Bumps that failed are retried this often, ms. */
const PENDING_RETRY_MS = 250;
/** A read depending on more collections than a cache entry may have tags is not cached. */
const MAX_DEPENDENCIES = 32;

type BypassReason = 'time' | 'uncacheable' | 'dependencies' | 'pending' | 'generations' | 'unshared';

interface InvalidationMessage {
  readonly g: Readonly<Record<string, number>>;
}

export class RecordCache implements Component {
  readonly name = 'record-cache';
  readonly cache: Cache;
  readonly generations: GenerationStore;
  readonly #bus: Bus | undefined;
  readonly #registry: CollectionRegistry;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #sharedDatabase: boolean;
  readonly #budget = new EntryBudget();
  readonly #resolve: (name: string) => CollectionDef | undefined;
  /** This node's copy of shared generations, for `eventual` reads (valid while subscribed). */
  readonly #local = new Map<string, number>();
  /** Collections whose bump failed and is being retried: read uncached here meanwhile. */
  readonly #pending = new Set<string>();
  readonly #bypass: Counter<'collection' | 'reason'> | undefined;
  readonly #invalidations: Counter<'collection' | 'source'> | undefined;
  /** Collections some strongly cached collection depends on (recomputed after schema changes). */
  #guarded: Set<string> | undefined;
  #subscribed = false;
  #unsubscribe: Unsubscribe | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  #warnedUnshared = false;
  readonly #stopListening: (() => void)[] = [];

  constructor(options: RecordCacheOptions) {
    this.cache = options.cache;
    this.generations = options.generations;
    this.#bus = options.bus;
    this.#registry = options.registry;
    this.#logger = options.logger;
    this.#timeoutMs = options.invalidationTimeoutMs;
    this.#sharedDatabase = options.sharedDatabase ?? false;
    this.#resolve = (name) => this.#registry.get(name);
    if (options.metricsRegistry !== undefined) {
      this.#bypass = counter(
        options.metricsRegistry,
        'data_cache_bypass_total',
        'Record reads of cached collections served from the database without the cache, by reason.',
        ['collection', 'reason'],
      );
      this.#invalidations = counter(
        options.metricsRegistry,
        'data_cache_invalidations_total',
        'Generation bumps of a collection: by a write on this node, or learnt from the bus.',
        ['collection', 'source'],
      );
    }
  }

  /** Subscribes to invalidations from other nodes (retried in the background while the bus is down). */
  async start(): Promise<void> {
    this.#stopListening.push(this.#registry.onChange(() => (this.#guarded = undefined)));
    const bus = this.#bus;
    if (bus === undefined) return;
    this.#stopListening.push(
      bus.onDisconnect(() => {
        this.#local.clear();
      }),
      bus.onReconnect(() => this.#missedMessages()),
    );
    await this.#subscribe();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#unsubscribe?.();
    for (const stop of this.#stopListening.splice(0)) stop();
  }

  /** A read by id: cached (a not-found too) when the collection caches, else `load()`. */
  view(
    def: CollectionDef,
    id: string,
    options: ReadOptions,
    principal: Principal,
    plan: ReadPlan,
    load: () => Promise<CachedView | undefined>,
  ): Promise<CachedView | undefined> {
    return this.#read(def, plan, principal, viewShape(id, options), load);
  }

  /** A list page: cached when the collection caches, else `load()`. */
  async list(
    def: CollectionDef,
    options: ListOptions,
    principal: Principal,
    plan: ReadPlan,
    load: () => Promise<ListResult>,
  ): Promise<ListResult> {
    const shape = [
      'l',
      options.filter ?? '',
      options.sort ?? '',
      options.limit,
      options.cursor ?? '',
      options.offset ?? null,
      options.total,
      ...readShape(options),
    ];
    return (await this.#read(def, plan, principal, shape, load)) as ListResult;
  }

  /**
   * The generation of `def` before a write, when the collection writes through: the write stores
   * its record only if its own bump is the next number (no other write came in between).
   */
  async generationBefore(def: CollectionDef): Promise<number | undefined> {
    if (!def.cache?.enabled || !def.cache.writeThrough) return undefined;
    try {
      const [generation] = await this.generations.read([def.name]);
      return generation;
    } catch {
      return undefined;
    }
  }

  /**
   * After a write committed, before its response: bumps the generations of the collections it
   * touched, drops this node's old entries, tells the other nodes, and writes through. Rejects with
   * `CACHE_ERR_INVALIDATION_FAILED` when the bump failed and a strongly cached collection depends
   * on a touched one.
   */
  async afterCommit(
    changes: readonly CommittedChange[],
    written: readonly WrittenRecord[] = [],
  ): Promise<void> {
    const names = [...new Set(changes.map((change) => change.collection))].sort();
    if (names.length === 0) return;
    const generations = await this.#bumpWithRetry(names);
    if (generations === undefined) {
      for (const name of names) this.#pending.add(name);
      this.#scheduleRetry();
      const guarded = this.#guardedNames();
      if (names.some((name) => guarded.has(name))) {
        throw new GroundworkError('CACHE_ERR_INVALIDATION_FAILED', {
          detail: `The change to ${names.map((n) => `"${n}"`).join(', ')} was saved, but cached reads of it could not be invalidated; other nodes may serve the previous value until its TTL ends. Read it back before relying on it.`,
        });
      }
      return;
    }
    const bumped = new Map(names.map((name, i) => [name, generations[i]!]));
    await this.#applied(bumped, 'write');
    this.#publish(bumped);
    for (const record of written) await this.#writeThrough(record, bumped);
  }

  async #read<T>(
    def: CollectionDef,
    plan: ReadPlan,
    principal: Principal,
    shape: readonly unknown[],
    load: () => Promise<T>,
  ): Promise<T> {
    const settings = def.cache;
    if (!settings?.enabled) return load();
    const reason = this.#bypassReason(plan, settings.consistency);
    if (reason !== undefined) {
      this.#bypass?.inc({ collection: def.name, reason });
      return load();
    }
    let generations: number[];
    try {
      generations = await this.#generationsOf(plan.collections, settings.consistency);
    } catch (error) {
      this.#bypass?.inc({ collection: def.name, reason: 'generations' });
      this.#logger.debug(
        { err: error, collection: def.name },
        'cache generations unavailable: reading uncached',
      );
      return load();
    }
    const key = this.#key(def, plan.collections, generations, shape, callerKey(plan, principal));
    let loaded = false;
    const value = await this.cache.getOrLoad(
      key,
      () => {
        loaded = true;
        return load();
      },
      {
        ttlMs: settings.ttlMs,
        negativeTtlMs: settings.ttlMs,
        tags: plan.collections.map(tagOf),
        scope: def.name,
      },
    );
    if (loaded) this.#evict(this.#budget.stored(def.name, key, settings.maxEntries));
    else this.#budget.used(def.name, key);
    return value as T;
  }

  #bypassReason(plan: ReadPlan, consistency: 'strong' | 'eventual'): BypassReason | undefined {
    if (!plan.cacheable) return 'uncacheable';
    if (plan.timeDependent) return 'time';
    if (plan.collections.length > MAX_DEPENDENCIES) return 'dependencies';
    if (plan.collections.some((name) => this.#pending.has(name))) return 'pending';
    if (!this.generations.shared) {
      if (this.#sharedDatabase && !this.#warnedUnshared) {
        this.#warnedUnshared = true;
        this.#logger.warn(
          'cached collections on a shared database with in-process cache generations: if several nodes use this database, set cache.url (Redis) and bus.driver, or their caches will not see each other’s writes',
        );
      }
      // Other nodes' writes reach this node only by the bus: strong reads cannot be promised.
      if (consistency === 'strong' && this.#crossProcessBus()) return 'unshared';
    }
    return undefined;
  }

  /** Generations for a read: from the shared store, or for `eventual` from this node's copy. */
  async #generationsOf(names: readonly string[], consistency: 'strong' | 'eventual'): Promise<number[]> {
    const useLocal =
      consistency === 'eventual' && this.generations.shared && this.#crossProcessBus() && this.#listening();
    if (!useLocal) return this.generations.read(names);
    const missing = names.filter((name) => !this.#local.has(name));
    if (missing.length > 0) {
      const read = await this.generations.read(missing);
      // Still listening: messages that arrived meanwhile have only raised the numbers (kept by max).
      if (!this.#listening()) return this.generations.read(names);
      for (const [i, name] of missing.entries()) this.#learn(name, read[i]!);
    }
    return names.map((name) => this.#local.get(name)!);
  }

  #key(
    def: CollectionDef,
    collections: readonly string[],
    generations: readonly number[],
    shape: readonly unknown[],
    caller: string,
  ): string {
    // The definition's `updated` changes with every schema or rule change of a collection involved.
    const dependencies = collections.map(
      (name, i) => `${name}@${generations[i]}@${this.#resolve(name)?.updated ?? ''}`,
    );
    const digest = createHash('sha256')
      .update(JSON.stringify([shape, dependencies, caller]))
      .digest('base64url');
    return `${KEY_VERSION}:${def.name}:${digest}`;
  }

  async #bumpWithRetry(names: readonly string[]): Promise<number[] | undefined> {
    const deadline = Date.now() + this.#timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.generations.bump(names);
      } catch (error) {
        const left = deadline - Date.now();
        if (left <= 0) {
          this.#logger.error(
            { err: error, collections: names },
            'cache invalidation failed: generations could not be bumped',
          );
          return undefined;
        }
        await sleep(Math.min(left, 25 * 2 ** attempt, 250));
      }
    }
  }

  /** After a bump (here or learnt): this node's copy, its local entries, the budget, metrics. */
  async #applied(bumped: ReadonlyMap<string, number>, source: 'write' | 'bus'): Promise<void> {
    for (const [name, generation] of bumped) {
      this.#learn(name, generation);
      this.#invalidations?.inc({ collection: name, source });
    }
    const shared = this.cache.store.capabilities.crossProcess;
    // A shared store's old entries were dropped by the writing node; this node has none of its own.
    if (shared && source === 'bus') return;
    const drops = [...bumped.keys()].map((name) => this.#drop(name));
    // Memory: instant and awaited. Redis: dead entries are unreachable anyway; deleted in the background.
    if (!shared) await Promise.all(drops);
  }

  #drop(name: string): Promise<void> {
    this.#budget.forget(name);
    return this.cache.deleteByTag(tagOf(name)).then(
      () => undefined,
      (error: unknown) => this.#logger.debug({ err: error, collection: name }, 'cache drop failed'),
    );
  }

  #learn(name: string, generation: number): void {
    const known = this.#local.get(name);
    if (known === undefined || generation > known) this.#local.set(name, generation);
  }

  #publish(bumped: ReadonlyMap<string, number>): void {
    if (this.#bus === undefined || !this.#crossProcessBus()) return;
    const message: InvalidationMessage = { g: Object.fromEntries(bumped) };
    this.#bus.publish(INVALIDATION_TOPIC, message).catch((error: unknown) => {
      this.#logger.warn({ err: error }, 'cache invalidation not published on the bus');
    });
  }

  async #writeThrough(record: WrittenRecord, bumped: ReadonlyMap<string, number>): Promise<void> {
    const { def, stored } = record;
    const settings = def.cache;
    const generation = bumped.get(def.name);
    if (!settings?.enabled || !settings.writeThrough || generation === undefined) return;
    // Another write bumped in between: it may have committed after this one, so its record is newer.
    if (record.generation === undefined || generation !== record.generation + 1) return;
    const value: CachedView = { etag: etagOf(stored), updated: stored.record.updated, body: stored.record };
    // The callers whose read by id depends on nothing but this collection and sees this record:
    // admins (no rule), and everyone when the view rule is "".
    const callers = ['admin:*'];
    if (def.rules.view?.trim() === '') callers.push('anonymous:', 'user:*');
    const shape = viewShape(stored.record.id, NO_OPTIONS);
    for (const caller of callers) {
      const key = this.#key(def, [def.name], [generation], shape, caller);
      try {
        await this.cache.set(key, value, settings.ttlMs, { tags: [tagOf(def.name)], scope: def.name });
        this.#evict(this.#budget.stored(def.name, key, settings.maxEntries));
      } catch (error) {
        this.#logger.debug({ err: error, collection: def.name }, 'write-through not stored');
      }
    }
  }

  #evict(keys: readonly string[]): void {
    for (const key of keys) {
      this.cache.delete(key).catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'cache eviction (maxEntries) failed');
      });
    }
  }

  /** Collections a strongly cached collection may depend on: itself and what its relations reach. */
  #guardedNames(): Set<string> {
    if (this.#guarded !== undefined) return this.#guarded;
    const guarded = new Set<string>();
    for (const def of this.#registry.list()) {
      if (!def.cache?.enabled || def.cache.consistency !== 'strong' || guarded.has(def.name)) continue;
      const stack = [def.name];
      while (stack.length > 0) {
        const name = stack.pop()!;
        if (guarded.has(name)) continue;
        guarded.add(name);
        for (const field of this.#resolve(name)?.fields ?? []) {
          if (field.type === 'relation') stack.push(field.collection);
        }
      }
    }
    this.#guarded = guarded;
    return guarded;
  }

  #scheduleRetry(): void {
    if (this.#retry !== undefined || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      const names = [...this.#pending].sort();
      if (names.length === 0) return;
      this.generations.bump(names).then(
        async (generations) => {
          for (const name of names) this.#pending.delete(name);
          const bumped = new Map(names.map((name, i) => [name, generations[i]!]));
          await this.#applied(bumped, 'write');
          this.#publish(bumped);
          this.#logger.info({ collections: names }, 'cache invalidation completed after a retry');
        },
        () => this.#scheduleRetry(),
      );
    }, PENDING_RETRY_MS);
    this.#retry.unref();
  }

  #crossProcessBus(): boolean {
    return this.#bus?.driver.capabilities.crossProcess === true;
  }

  #listening(): boolean {
    return this.#subscribed && this.#bus?.connected === true;
  }

  async #subscribe(): Promise<void> {
    const bus = this.#bus;
    if (bus === undefined || this.#closed) return;
    try {
      this.#unsubscribe = await bus.subscribe<InvalidationMessage>(
        INVALIDATION_TOPIC,
        (message) => this.#received(message),
        { ignoreOwn: true },
      );
      this.#subscribed = true;
    } catch (error) {
      this.#logger.warn({ err: error }, 'cache invalidations: bus subscription failed; retrying');
      setTimeout(() => void this.#subscribe(), 1_000).unref();
    }
  }

  async #received(message: InvalidationMessage): Promise<void> {
    const entries = Object.entries(message?.g ?? {}).filter(
      (entry): entry is [string, number] => typeof entry[1] === 'number',
    );
    if (entries.length === 0) return;
    if (!this.generations.shared) {
      // Another node's numbers mean nothing here: move this node's own past its old entries.
      const names = entries.map(([name]) => name);
      const bumped = await this.generations.bump(names);
      await this.#applied(new Map(names.map((name, i) => [name, bumped[i]!])), 'bus');
      return;
    }
    await this.#applied(new Map(entries), 'bus');
  }

  /** After a bus reconnection: messages may have been lost, so nothing local is trusted. */
  #missedMessages(): void {
    this.#local.clear();
    if (this.generations.shared) return;
    const names = this.#registry.list().map((def) => def.name);
    if (names.length > 0) void this.generations.bump(names).catch(() => undefined);
  }
}

const NO_OPTIONS: ReadOptions = {
  fields: undefined,
  expandFields: new Map(),
  expand: { children: new Map() },
};

function viewShape(id: string, options: ReadOptions): unknown[] {
  return ['v', id, ...readShape(options)];
}

/** fields, expand paths and per-path fields, in a canonical order. */
function readShape(options: ReadOptions): unknown[] {
  const paths: string[] = [];
  const walk = (tree: ExpandTree, prefix: string): void => {
    for (const [name, child] of tree.children) {
      const path = prefix === '' ? name : `${prefix}.${name}`;
      paths.push(path);
      walk(child, path);
    }
  };
  walk(options.expand, '');
  return [
    options.fields === undefined ? null : [...options.fields].sort(),
    paths.sort(),
    [...options.expandFields].map(([path, fields]) => [path, [...fields].sort()]).sort(),
  ];
}

function tagOf(collection: string): string {
  return `c:${collection}`;
}

/**
 * The caller's part of a key. With `@auth.*` in play: everything `@auth` can read. Otherwise the
 * caller kind (admins bypass rules; anonymous and users get different errors) and API-key scopes.
 */
export function callerKey(plan: ReadPlan, principal: Principal): string {
  if (plan.perCaller) return `${principal.kind}|${stableJson(authValues(principal))}`;
  if (principal.kind === 'anonymous') return 'anonymous:';
  return `${principal.kind}:${principal.scopes === undefined ? '*' : principal.scopes.join(' ')}`;
}

/** JSON with object keys sorted, so equal values give equal text. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function counter<L extends string>(registry: Registry, name: string, help: string, labels: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter({ name, help, labelNames: labels, registers: [registry] });
}
