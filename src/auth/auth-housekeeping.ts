/**
 * Deletes the auth block's dead rows on a timer: sessions that ended (idle or past their end),
 * mailed tokens that are spent or expired, and refresh-token families past their absolute lifetime.
 * None of them can authenticate anyone any more (every read checks expiry itself), so this only
 * bounds the tables' growth; a late or skipped sweep changes no answer. Every node runs it: the
 * deletes are idempotent, so nodes sharing a database need no coordination.
 */
import type { Logger } from '../core/logger.js';
import type { Sessions } from './sessions/sessions.js';
import type { RefreshTokens } from './tokens/refresh-tokens.js';
import type { MailTokens } from './users/mail-tokens.js';

/** How often the sweep runs by default: ten minutes. */
export const HOUSEKEEPING_INTERVAL_MS = 600_000;

export interface SweepCounts {
  readonly sessions: number;
  readonly mailTokens: number;
  readonly refreshTokens: number;
}

export class AuthHousekeeping {
  readonly #deps: {
    sessions: Sessions;
    mailTokens: MailTokens;
    refreshTokens: RefreshTokens;
    logger: Logger;
  };
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SweepCounts | undefined> | undefined;

  constructor(
    deps: { sessions: Sessions; mailTokens: MailTokens; refreshTokens: RefreshTokens; logger: Logger },
    intervalMs = HOUSEKEEPING_INTERVAL_MS,
  ) {
    this.#deps = deps;
    this.#intervalMs = intervalMs;
  }

  /** Starts the timer (unref'd: it never keeps the process alive). The first sweep runs after one interval. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.sweep(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /**
   * One sweep (never two at once: a call during a sweep gets that sweep's result). Returns what
   * was deleted, or undefined when the database failed (logged; the next sweep tries again).
   */
  sweep(): Promise<SweepCounts | undefined> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(): Promise<SweepCounts | undefined> {
    const { sessions, mailTokens, refreshTokens, logger } = this.#deps;
    try {
      const counts: SweepCounts = {
        sessions: await sessions.deleteEnded(),
        mailTokens: await mailTokens.deleteSpent(),
        refreshTokens: await refreshTokens.deleteExpired(),
      };
      logger.debug({ deleted: counts }, 'auth housekeeping');
      return counts;
    } catch (error) {
      logger.warn({ err: error }, 'auth housekeeping failed');
      return undefined;
    }
  }
}
