/**
 * DNS service discovery for an upstream group given by hostname (issue 7 point 4): every A and AAAA
 * record of the name is a target. The set is cached for the records' TTL, bounded to
 * [`minTtlMs`, `maxTtlMs`] (a TTL of 0 must not make the edge query on every request; a day-long TTL
 * must not pin a dead address), and re-resolved in the background once `refreshAt` of the TTL has
 * passed, so the set is replaced before it expires instead of going missing.
 *
 * **Failures keep the last good set.** A resolution counts only when every queried family answered
 * (records, or "no records of this type") and at least one address came back. Otherwise — SERVFAIL,
 * timeout, refused, NXDOMAIN, or an empty answer — the previous set stays in use, the failure is
 * reported (`onError`, `status.lastError`), and the name is retried with exponential backoff from
 * `retryMs` up to `maxRetryMs`, regardless of the TTL. Treating an empty or NXDOMAIN answer as a
 * failure is deliberate: a DNS blip must not empty a group; to take a group out of service, remove
 * the route. Before the first success the set is empty (the proxy answers 503).
 *
 * `onChange` fires only when the set of addresses changes (a new TTL alone is no change). The set is
 * sorted (IPv4 first, then by address) and de-duplicated, so comparisons and balancer rebuilds are
 * stable. Queries go to `servers` (default: the system's resolvers) through node:dns's c-ares
 * `Resolver`, never through `getaddrinfo`, because only the former reports TTLs.
 */
import { Resolver } from 'node:dns/promises';
import { GroundworkError } from '../../core/errors.js';
import { checkNumber, checkThat } from '../health/options.js';
import { type Scheduler, systemScheduler } from '../health/scheduler.js';

export interface DnsTarget {
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
}

/** `10.0.0.1:80` or `[fd00::1]:80`: the id a DNS target has in a `TargetSet` or a balancer. */
export function dnsTargetId(target: DnsTarget): string {
  return target.family === 6 ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`;
}

/** The part of node:dns/promises' `Resolver` this uses (injectable for tests). */
export interface DnsResolver {
  resolve4(hostname: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolve6(hostname: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  setServers?(servers: string[]): void;
  cancel?(): void;
}

export interface DnsDiscoveryOptions {
  hostname: string;
  /** The port every target gets. */
  port: number;
  /** Which record types to query. Default [4, 6]: A and AAAA. */
  families?: readonly (4 | 6)[];
  /** DNS servers (`1.2.3.4`, `1.2.3.4:5353`, `[::1]:53`). Default: the system's. */
  servers?: readonly string[];
  /** Shortest time a set is cached, in ms, whatever the TTL. Default 1 000. */
  minTtlMs?: number;
  /** Longest time a set is cached, in ms, whatever the TTL. Default 300 000. */
  maxTtlMs?: number;
  /** Re-resolve after this fraction (0–1] of the bounded TTL. Default 0.8. */
  refreshAt?: number;
  /** First retry after a failed resolution, in ms; doubles per failure in a row. Default 1 000. */
  retryMs?: number;
  /** Longest retry delay, in ms. Default 30 000. */
  maxRetryMs?: number;
  /** Per-query timeout of the resolver, in ms. Default 2 000. */
  queryTimeoutMs?: number;
  /** Attempts per query before the resolver gives up. Default 2. */
  tries?: number;
  scheduler?: Scheduler;
  /** Default: a node:dns `Resolver` with `queryTimeoutMs`, `tries` and `servers`. */
  resolver?: DnsResolver;
  /** The set changed (also the first successful resolution). Must not throw. */
  onChange?: (targets: readonly DnsTarget[], previous: readonly DnsTarget[]) => void;
  /** A resolution failed (`EDGE_ERR_DNS_RESOLUTION`, the DNS error as `cause`); the last good set stays. */
  onError?: (error: GroundworkError) => void;
}

export interface DnsDiscoveryStatus {
  readonly resolvedAtMs: number | undefined;
  /** When the current set's bounded TTL runs out (it is kept after that if refreshing fails). */
  readonly expiresAtMs: number | undefined;
  readonly nextResolveAtMs: number | undefined;
  /** The bounded TTL of the last good answer. */
  readonly ttlMs: number | undefined;
  readonly consecutiveFailures: number;
  readonly lastError: GroundworkError | undefined;
  /** The set is older than its TTL (refreshing has been failing). */
  readonly stale: boolean;
}

export interface DnsDiscoveryCounters {
  resolutions: number;
  failures: number;
  changes: number;
}

/**
 * @example
 *   const discovery = new DnsDiscovery({
 *     hostname: 'api.internal', port: 8080,
 *     onChange: (targets) => group.update(targets.map((t) => [dnsTargetId(t), t])),
 *     onError: (error) => log.warn({ err: error }, 'DNS refresh failed; keeping the last good set'),
 *   });
 *   await discovery.start();
 */
export class DnsDiscovery {
  readonly hostname: string;
  readonly port: number;
  readonly #families: readonly (4 | 6)[];
  readonly #minTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #refreshAt: number;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #scheduler: Scheduler;
  readonly #resolver: DnsResolver;
  readonly #onChange: DnsDiscoveryOptions['onChange'];
  readonly #onError: DnsDiscoveryOptions['onError'];
  #targets: readonly DnsTarget[] = Object.freeze([]);
  #resolvedAtMs: number | undefined;
  #ttlMs: number | undefined;
  #nextResolveAtMs: number | undefined;
  #failures = 0;
  #lastError: GroundworkError | undefined;
  #cancelTimer: (() => void) | undefined;
  #inFlight: Promise<boolean> | undefined;
  #started: Promise<readonly DnsTarget[]> | undefined;
  #stopped = false;
  readonly #counters: DnsDiscoveryCounters = { resolutions: 0, failures: 0, changes: 0 };

  constructor(options: DnsDiscoveryOptions) {
    const owner = 'DnsDiscovery';
    checkThat(
      typeof options.hostname === 'string' && options.hostname !== '',
      owner,
      'hostname is required.',
    );
    this.hostname = options.hostname;
    this.port = checkNumber(owner, 'port', options.port, { min: 1, max: 65_535, integer: true });
    this.#families = options.families ?? [4, 6];
    checkThat(
      this.#families.length > 0 && this.#families.every((f) => f === 4 || f === 6),
      owner,
      'families must list 4 and/or 6.',
    );
    this.#minTtlMs = checkNumber(owner, 'minTtlMs', options.minTtlMs ?? 1_000, { min: 1 });
    this.#maxTtlMs = checkNumber(owner, 'maxTtlMs', options.maxTtlMs ?? 300_000, { min: this.#minTtlMs });
    this.#refreshAt = checkNumber(owner, 'refreshAt', options.refreshAt ?? 0.8, { min: 0.01, max: 1 });
    this.#retryMs = checkNumber(owner, 'retryMs', options.retryMs ?? 1_000, { min: 1 });
    this.#maxRetryMs = checkNumber(owner, 'maxRetryMs', options.maxRetryMs ?? 30_000, { min: this.#retryMs });
    this.#scheduler = options.scheduler ?? systemScheduler;
    if (options.resolver !== undefined) {
      this.#resolver = options.resolver;
    } else {
      this.#resolver = new Resolver({
        timeout: checkNumber(owner, 'queryTimeoutMs', options.queryTimeoutMs ?? 2_000, {
          min: 1,
          integer: true,
        }),
        tries: checkNumber(owner, 'tries', options.tries ?? 2, { min: 1, integer: true }),
      });
    }
    if (options.servers !== undefined) this.#resolver.setServers?.([...options.servers]);
    this.#onChange = options.onChange;
    this.#onError = options.onError;
  }

  /** The last good set (empty before the first success). */
  get targets(): readonly DnsTarget[] {
    return this.#targets;
  }

  get status(): DnsDiscoveryStatus {
    const expiresAtMs =
      this.#resolvedAtMs === undefined || this.#ttlMs === undefined
        ? undefined
        : this.#resolvedAtMs + this.#ttlMs;
    return {
      resolvedAtMs: this.#resolvedAtMs,
      expiresAtMs,
      nextResolveAtMs: this.#nextResolveAtMs,
      ttlMs: this.#ttlMs,
      consecutiveFailures: this.#failures,
      lastError: this.#lastError,
      stale: expiresAtMs !== undefined && this.#scheduler.now() >= expiresAtMs,
    };
  }

  get counters(): Readonly<DnsDiscoveryCounters> {
    return { ...this.#counters };
  }

  /**
   * Resolves for the first time and keeps the set fresh from then on. Resolves with the set after the
   * first resolution (empty if it failed); later calls return the same promise.
   */
  start(): Promise<readonly DnsTarget[]> {
    this.#started ??= this.refresh().then(() => this.#targets);
    return this.#started;
  }

  /**
   * Resolves now (joining a resolution already running) and reschedules the next one. Resolves
   * with whether the resolution succeeded; never rejects.
   */
  refresh(): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    this.#inFlight ??= this.#resolve().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /** Cancels the refresh timer and any query in flight; the set stays readable. */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#nextResolveAtMs = undefined;
    if (this.#inFlight !== undefined) this.#resolver.cancel?.();
  }

  async #resolve(): Promise<boolean> {
    const answers = await Promise.allSettled(
      this.#families.map((family) =>
        family === 4
          ? this.#resolver.resolve4(this.hostname, { ttl: true })
          : this.#resolver.resolve6(this.hostname, { ttl: true }),
      ),
    );
    if (this.#stopped) return false;
    const now = this.#scheduler.now();
    const found: DnsTarget[] = [];
    let minTtlS = Number.POSITIVE_INFINITY;
    let failure: unknown;
    answers.forEach((answer, i) => {
      if (answer.status === 'rejected') {
        // ENODATA: the name exists but has no record of this type, an answer like any other.
        if ((answer.reason as NodeJS.ErrnoException | null)?.code !== 'ENODATA') failure ??= answer.reason;
        return;
      }
      for (const record of answer.value) {
        found.push({ address: record.address, family: this.#families[i]!, port: this.port });
        minTtlS = Math.min(minTtlS, record.ttl);
      }
    });
    if (failure === undefined && found.length === 0) {
      failure = Object.assign(new Error(`no A/AAAA records for ${this.hostname}`), { code: 'ENODATA' });
    }
    if (failure !== undefined) {
      this.#fail(failure);
      return false;
    }
    this.#succeed(found, minTtlS, now);
    return true;
  }

  #succeed(found: DnsTarget[], minTtlS: number, now: number): void {
    this.#counters.resolutions++;
    this.#failures = 0;
    this.#lastError = undefined;
    this.#resolvedAtMs = now;
    this.#ttlMs = Math.min(this.#maxTtlMs, Math.max(this.#minTtlMs, minTtlS * 1_000));
    const next = normalise(found);
    if (!sameTargets(next, this.#targets)) {
      const previous = this.#targets;
      this.#targets = next;
      this.#counters.changes++;
      this.#onChange?.(next, previous);
    }
    this.#scheduleIn(this.#ttlMs * this.#refreshAt);
  }

  #fail(cause: unknown): void {
    this.#counters.failures++;
    this.#failures++;
    const code = (cause as NodeJS.ErrnoException | null)?.code ?? 'unknown';
    this.#lastError = new GroundworkError('EDGE_ERR_DNS_RESOLUTION', {
      detail: "The upstream group's DNS name could not be resolved.",
      cause: Object.assign(new Error(`resolving ${this.hostname} failed: ${code}`), { cause, code }),
    });
    this.#onError?.(this.#lastError);
    const delay = Math.min(this.#maxRetryMs, this.#retryMs * 2 ** Math.min(this.#failures - 1, 30));
    this.#scheduleIn(delay);
  }

  #scheduleIn(delayMs: number): void {
    this.#cancelTimer?.();
    this.#nextResolveAtMs = this.#scheduler.now() + delayMs;
    this.#cancelTimer = this.#scheduler.setTimeout(() => {
      this.#cancelTimer = undefined;
      void this.refresh();
    }, delayMs);
  }
}

function normalise(found: DnsTarget[]): readonly DnsTarget[] {
  const unique = new Map<string, DnsTarget>();
  for (const target of found) unique.set(dnsTargetId(target), target);
  const sorted = [...unique.values()].sort((a, b) =>
    a.family !== b.family ? a.family - b.family : a.address < b.address ? -1 : a.address > b.address ? 1 : 0,
  );
  return Object.freeze(sorted);
}

function sameTargets(a: readonly DnsTarget[], b: readonly DnsTarget[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.address !== b[i]!.address || a[i]!.family !== b[i]!.family || a[i]!.port !== b[i]!.port)
      return false;
  }
  return true;
}
