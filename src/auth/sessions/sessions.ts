import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SessionRecord, SessionStore } from './session-store.js';

/**
 * Cookie sessions, written once over any `SessionStore`. The cookie carries an opaque 256-bit
 * secret; the store keeps its SHA-256, so a leaked table cannot be replayed as cookies. A session
 * ends after `idleTimeoutMs` without requests or `absoluteTimeoutMs` after sign-in, whichever comes
 * first. Every sign-in makes a new session (and ends the one the request carried: session-fixation
 * defence). Activity is written at most once per `touchIntervalMs`, so reads stay reads.
 */
export interface SessionOptions {
  readonly idleTimeoutMs: number;
  readonly absoluteTimeoutMs: number;
  readonly touchIntervalMs?: number;
  readonly now?: () => number;
}

export const SESSION_SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function sessionIdOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class Sessions {
  readonly #store: SessionStore;
  readonly #idleMs: number;
  readonly #absoluteMs: number;
  readonly #touchMs: number;
  readonly #now: () => number;

  constructor(store: SessionStore, options: SessionOptions) {
    this.#store = store;
    this.#idleMs = options.idleTimeoutMs;
    this.#absoluteMs = options.absoluteTimeoutMs;
    this.#touchMs = options.touchIntervalMs ?? Math.min(60_000, Math.floor(options.idleTimeoutMs / 10));
    this.#now = options.now ?? Date.now;
  }

  get absoluteTimeoutMs(): number {
    return this.#absoluteMs;
  }

  /** Starts a session for the user; ends `previousSecret`'s session if the request carried one. */
  async start(input: {
    collection: string;
    userId: string;
    ip?: string | undefined;
    userAgent?: string | undefined;
    previousSecret?: string | undefined;
  }): Promise<{ secret: string; session: SessionRecord }> {
    if (input.previousSecret && SESSION_SECRET_PATTERN.test(input.previousSecret))
      await this.#store.delete(sessionIdOf(input.previousSecret));
    const secret = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: SessionRecord = {
      id: sessionIdOf(secret),
      collection: input.collection,
      userId: input.userId,
      csrfToken: randomBytes(24).toString('base64url'),
      ip: input.ip?.slice(0, 64) ?? null,
      userAgent: input.userAgent?.slice(0, 256) ?? null,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.#absoluteMs,
    };
    await this.#store.create(session);
    return { secret, session };
  }

  /** The live session for a cookie secret, or undefined (unknown, idle too long, or past its end). */
  async resolve(secret: string): Promise<SessionRecord | undefined> {
    if (!SESSION_SECRET_PATTERN.test(secret)) return undefined;
    const session = await this.#store.get(sessionIdOf(secret));
    if (!session) return undefined;
    const now = this.#now();
    if (now >= session.expiresAt || now - session.lastSeenAt >= this.#idleMs) {
      await this.#store.delete(session.id);
      return undefined;
    }
    if (now - session.lastSeenAt >= this.#touchMs) await this.#store.touch(session.id, now);
    return session;
  }

  async end(secret: string): Promise<void> {
    if (SESSION_SECRET_PATTERN.test(secret)) await this.#store.delete(sessionIdOf(secret));
  }

  list(collection: string, userId: string): Promise<SessionRecord[]> {
    return this.#store.listForUser(collection, userId);
  }

  /** Ends one of the user's sessions by its id; false when it is not theirs or does not exist. */
  async revoke(collection: string, userId: string, id: string): Promise<boolean> {
    const session = await this.#store.get(id);
    if (!session || session.collection !== collection || session.userId !== userId) return false;
    return this.#store.delete(id);
  }

  revokeAll(collection: string, userId: string, exceptId?: string): Promise<number> {
    return this.#store.deleteForUser(collection, userId, exceptId);
  }

  /** Deletes every session that has ended (idle too long or past its end); returns how many. */
  deleteEnded(): Promise<number> {
    const now = this.#now();
    return this.#store.deleteEnded(now, now - this.#idleMs);
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfTokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
