/**
 * The session-store port: where cookie sessions live. The SQL driver keeps them in
 * `_gw_auth_sessions`; a Redis driver can implement the same five operations later. `id` is the
 * SHA-256 of the cookie's secret, never the secret itself. Times are epoch ms.
 */
export interface SessionRecord {
  readonly id: string;
  readonly collection: string;
  readonly userId: string;
  /** The per-session CSRF token (sent back as `X-CSRF-Token` by clients that cannot rely on Origin). */
  readonly csrfToken: string;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  /** Absolute expiry: the session ends then however active it is. */
  readonly expiresAt: number;
}

export interface SessionStore {
  /** Stores a new session. */
  create(session: SessionRecord): Promise<void>;
  /** The session with this id, or undefined (expiry is the caller's check). */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Records activity (`lastSeenAt`) for idle expiry. */
  touch(id: string, nowMs: number): Promise<void>;
  /** Deletes one session; true when it existed. */
  delete(id: string): Promise<boolean>;
  /** The user's sessions, newest first. */
  listForUser(collection: string, userId: string): Promise<SessionRecord[]>;
  /** Deletes the user's sessions except `exceptId`; returns how many. */
  deleteForUser(collection: string, userId: string, exceptId?: string): Promise<number>;
  /**
   * Deletes sessions that ended: past `expiresAt` at `nowMs`, or last seen at or before
   * `idleBeforeMs`; returns how many (housekeeping).
   */
  deleteEnded(nowMs: number, idleBeforeMs: number): Promise<number>;
}
