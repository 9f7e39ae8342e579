/**
 * Active health checking: each target is probed on its own timer (every `intervalMs`, jittered so
 * probes of many targets, and of many edge nodes, spread out instead of arriving together), each
 * probe bounded by `timeoutMs`. A target changes state only after a run of equal results: down after
 * `unhealthyThreshold` failures in a row, up after `healthyThreshold` successes in a row, so a
 * flapping target does not flap the balancer (HAProxy's `rise`/`fall`, Envoy's thresholds).
 *
 * The probe is injected: the proxy passes an HTTP GET of the group's health path, L4 routes a TCP
 * connect (`probeHttp` / `probeTcp` in `probes.ts`). A probe passes when its promise fulfils with
 * anything but `false`; it fails when it rejects, fulfils with `false`, or outlives `timeoutMs` (its
 * signal is then aborted, so it can cancel its socket; a late answer is ignored). Probes of one
 * target never overlap: the next is scheduled when the previous one has ended.
 *
 * Time comes from a `Scheduler` (real timers, or `ManualScheduler` in tests). `remove` and `stop`
 * cancel every timer and abort probes in flight; nothing is reported after them.
 */
import { checkNumber } from './options.js';
import { type Scheduler, systemScheduler } from './scheduler.js';

/** Probes `target` once; see the file header for what counts as a pass. */
export type HealthProbe<T> = (target: T, signal: AbortSignal) => Promise<unknown>;

export interface HealthTransition<T> {
  readonly id: string;
  readonly target: T;
  /** The new state. */
  readonly healthy: boolean;
  readonly atMs: number;
  /** The last probe's failure, when going down (`timedOut` when it was the timeout). */
  readonly error?: unknown;
  readonly timedOut: boolean;
}

export interface ProbeResult {
  readonly id: string;
  readonly ok: boolean;
  readonly timedOut: boolean;
  readonly durationMs: number;
  readonly error?: unknown;
}

export interface ActiveHealthCheckerOptions<T> {
  probe: HealthProbe<T>;
  /** Time between the end of one probe and the start of the next, in ms. Default 5 000. */
  intervalMs?: number;
  /** The interval while a target is down (probe it more or less often). Default `intervalMs`. */
  unhealthyIntervalMs?: number;
  /** A probe running longer than this (ms) fails and is aborted. Default 2 000. */
  timeoutMs?: number;
  /** Successes in a row that bring a down target up. Default 2. */
  healthyThreshold?: number;
  /** Failures in a row that take an up target down. Default 3. */
  unhealthyThreshold?: number;
  /**
   * Random spread of each interval, as a fraction (0–1): the delay is `interval × (1 ± jitter)`.
   * The first probe of a target comes after `random × jitter × interval`. Default 0.1.
   */
  jitter?: number;
  /** The state of a newly added target, before any probe. Default `healthy` (a new group serves at once). */
  initialState?: 'healthy' | 'unhealthy';
  scheduler?: Scheduler;
  /** Uniform in [0, 1); default `Math.random`. */
  random?: () => number;
  /** Every up/down change. Must not throw. */
  onTransition?: (transition: HealthTransition<T>) => void;
  /** Every probe's result (for latency and failure metrics). Must not throw. */
  onProbe?: (result: ProbeResult) => void;
}

export interface TargetHealthStatus {
  readonly healthy: boolean;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly probes: number;
  readonly failures: number;
  readonly timeouts: number;
  readonly lastProbeAtMs: number | undefined;
  readonly lastError: unknown;
}

interface TargetState<T> {
  readonly id: string;
  target: T;
  healthy: boolean;
  successes: number;
  failures: number;
  probes: number;
  failuresTotal: number;
  timeouts: number;
  lastProbeAtMs: number | undefined;
  lastError: unknown;
  /** Cancels the pending timer (next probe, or the running probe's timeout). */
  cancel: (() => void) | undefined;
  controller: AbortController | undefined;
  removed: boolean;
}

/**
 * @example
 *   const checker = new ActiveHealthChecker<Target>({
 *     probe: (t, signal) => probeHttp(new URL('/healthz', t.url), { signal }),
 *     onTransition: ({ id, healthy }) => log.info({ id, healthy }, 'target health changed'),
 *   });
 *   for (const t of group) checker.add(t.id, t);
 *   const candidates = group.filter((t) => checker.isHealthy(t.id));
 */
export class ActiveHealthChecker<T> {
  readonly #probe: HealthProbe<T>;
  readonly #intervalMs: number;
  readonly #unhealthyIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #healthyThreshold: number;
  readonly #unhealthyThreshold: number;
  readonly #jitter: number;
  readonly #initialHealthy: boolean;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  readonly #onTransition: ((transition: HealthTransition<T>) => void) | undefined;
  readonly #onProbe: ((result: ProbeResult) => void) | undefined;
  readonly #targets = new Map<string, TargetState<T>>();
  #stopped = false;

  constructor(options: ActiveHealthCheckerOptions<T>) {
    const owner = 'ActiveHealthChecker';
    this.#probe = options.probe;
    this.#intervalMs = checkNumber(owner, 'intervalMs', options.intervalMs ?? 5_000, { min: 1 });
    this.#unhealthyIntervalMs = checkNumber(
      owner,
      'unhealthyIntervalMs',
      options.unhealthyIntervalMs ?? this.#intervalMs,
      { min: 1 },
    );
    this.#timeoutMs = checkNumber(owner, 'timeoutMs', options.timeoutMs ?? 2_000, { min: 1 });
    const threshold = { min: 1, integer: true } as const;
    this.#healthyThreshold = checkNumber(owner, 'healthyThreshold', options.healthyThreshold ?? 2, threshold);
    this.#unhealthyThreshold = checkNumber(
      owner,
      'unhealthyThreshold',
      options.unhealthyThreshold ?? 3,
      threshold,
    );
    this.#jitter = checkNumber(owner, 'jitter', options.jitter ?? 0.1, { min: 0, max: 1 });
    this.#initialHealthy = (options.initialState ?? 'healthy') === 'healthy';
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#random = options.random ?? Math.random;
    this.#onTransition = options.onTransition;
    this.#onProbe = options.onProbe;
  }

  /** Starts checking `target` under `id`. Adding a known id only replaces the target value. */
  add(id: string, target: T): void {
    if (this.#stopped) throw new Error('ActiveHealthChecker: add() after stop()');
    const known = this.#targets.get(id);
    if (known !== undefined) {
      known.target = target;
      return;
    }
    const state: TargetState<T> = {
      id,
      target,
      healthy: this.#initialHealthy,
      successes: 0,
      failures: 0,
      probes: 0,
      failuresTotal: 0,
      timeouts: 0,
      lastProbeAtMs: undefined,
      lastError: undefined,
      cancel: undefined,
      controller: undefined,
      removed: false,
    };
    this.#targets.set(id, state);
    this.#schedule(state, this.#random() * this.#jitter * this.#intervalMs);
  }

  /** Stops checking `id` (cancels its timer, aborts its probe). Returns whether it was known. */
  remove(id: string): boolean {
    const state = this.#targets.get(id);
    if (state === undefined) return false;
    this.#targets.delete(id);
    this.#halt(state);
    return true;
  }

  /** Whether `id` is up. Unknown ids are not. */
  isHealthy(id: string): boolean {
    return this.#targets.get(id)?.healthy ?? false;
  }

  /** The ids that are up. */
  healthy(): string[] {
    const out: string[] = [];
    for (const state of this.#targets.values()) if (state.healthy) out.push(state.id);
    return out;
  }

  status(id: string): TargetHealthStatus | undefined {
    const state = this.#targets.get(id);
    if (state === undefined) return undefined;
    return {
      healthy: state.healthy,
      consecutiveSuccesses: state.successes,
      consecutiveFailures: state.failures,
      probes: state.probes,
      failures: state.failuresTotal,
      timeouts: state.timeouts,
      lastProbeAtMs: state.lastProbeAtMs,
      lastError: state.lastError,
    };
  }

  get size(): number {
    return this.#targets.size;
  }

  /** Cancels every timer and aborts every probe in flight; nothing is reported afterwards. */
  stop(): void {
    this.#stopped = true;
    for (const state of this.#targets.values()) this.#halt(state);
    this.#targets.clear();
  }

  #halt(state: TargetState<T>): void {
    state.removed = true;
    state.cancel?.();
    state.cancel = undefined;
    state.controller?.abort();
    state.controller = undefined;
  }

  #schedule(state: TargetState<T>, delayMs: number): void {
    state.cancel = this.#scheduler.setTimeout(() => this.#run(state), delayMs);
  }

  #nextDelay(state: TargetState<T>): number {
    const interval = state.healthy ? this.#intervalMs : this.#unhealthyIntervalMs;
    return interval * (1 + this.#jitter * (2 * this.#random() - 1));
  }

  #run(state: TargetState<T>): void {
    if (state.removed) return;
    const controller = new AbortController();
    state.controller = controller;
    const startedMs = this.#scheduler.now();
    let done = false;
    const finish = (ok: boolean, timedOut: boolean, error: unknown): void => {
      if (done || state.removed) return;
      done = true;
      state.cancel?.();
      state.cancel = undefined;
      state.controller = undefined;
      this.#record(state, ok, timedOut, error, this.#scheduler.now() - startedMs);
      if (!state.removed) this.#schedule(state, this.#nextDelay(state));
    };
    state.cancel = this.#scheduler.setTimeout(() => {
      const error = new Error(`health probe timed out after ${this.#timeoutMs} ms`);
      controller.abort(error);
      finish(false, true, error);
    }, this.#timeoutMs);
    let probing: Promise<unknown>;
    try {
      probing = Promise.resolve(this.#probe(state.target, controller.signal));
    } catch (error) {
      probing = Promise.reject(error);
    }
    probing.then(
      (value) =>
        finish(value !== false, false, value === false ? new Error('probe returned false') : undefined),
      (error: unknown) => finish(false, false, error),
    );
  }

  #record(state: TargetState<T>, ok: boolean, timedOut: boolean, error: unknown, durationMs: number): void {
    const now = this.#scheduler.now();
    state.probes++;
    state.lastProbeAtMs = now;
    if (ok) {
      state.successes++;
      state.failures = 0;
      state.lastError = undefined;
    } else {
      state.failures++;
      state.successes = 0;
      state.failuresTotal++;
      if (timedOut) state.timeouts++;
      state.lastError = error;
    }
    this.#onProbe?.(
      ok ? { id: state.id, ok, timedOut, durationMs } : { id: state.id, ok, timedOut, durationMs, error },
    );
    const flip = state.healthy
      ? !ok && state.failures >= this.#unhealthyThreshold
      : ok && state.successes >= this.#healthyThreshold;
    if (!flip) return;
    state.healthy = !state.healthy;
    const transition: HealthTransition<T> = state.healthy
      ? { id: state.id, target: state.target, healthy: true, atMs: now, timedOut: false }
      : { id: state.id, target: state.target, healthy: false, atMs: now, timedOut, error };
    this.#onTransition?.(transition);
  }
}
