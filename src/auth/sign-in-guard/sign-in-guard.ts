import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { Counter } from 'prom-client';
import { GroundworkError, isGroundworkError } from '../../core/errors.js';
import type { Metrics } from '../../core/metrics.js';
import { normalizeIp } from '../../gateway/ip-rules.js';
import { validateBackoffRules } from './attempt-backoff.js';
import type { BackoffRules, GuardKey, GuardVerdict, SignInGuardStore } from './sign-in-guard-store.js';

/**
 * Brute-force defence for password sign-in (issue 4, point 6): per-account and per-client-IP
 * accounting of failed attempts, a doubling delay after a few failures, then a temporary lock whose
 * length doubles with repeated lockouts, up to a bound. The rules are in `attempt-backoff.ts`.
 *
 * Defaults, and why:
 * - Account (normalised email × auth collection): 5 free failures (typos, a stale password
 *   manager), then each attempt must come 1 s, 2 s, 4 s, 8 s, 16 s after the previous failure
 *   (unnoticeable to a person retyping; a script is down to 5 guesses in ~31 s); the 10th failure
 *   locks the account for 15 min. After a lock the delays resume (no free attempts), and 5 more
 *   failures lock it for 30 min, then 1 h, 2 h, 4 h (the bound), while lockouts are remembered
 *   (24 h after the last lock ends). One failure is forgiven per hour without failures. So an
 *   attacker gets about 10 guesses in the first 15 minutes and ~30 a day at the bound, per account;
 *   and a lock shuts the real user out for at most 4 h per round (completing a password reset
 *   should call `resetAccount`).
 * - IP (an IPv4 address, or the /64 of an IPv6 one: one subscriber's allocation): 10× the account's
 *   counts (50 free, lock after 100) because many users share a NAT; one failure forgiven per
 *   minute without failures, so a NAT's trickle of typos (less than one a minute) never
 *   accumulates; delays bounded at 30 s, below the forgiveness period, so a script that keeps going
 *   is never forgiven and reaches the lock in under half an hour; locks 15 min doubling to 1 h (a
 *   shared address must not be shut out for long). This is what stops password spraying (one
 *   password against many accounts, which no per-account count sees): about 100 guesses per
 *   address in the first 40 minutes, fewer after.
 *
 * Attempts are counted *before* the password is checked (`admit`), as failures, and a success
 * takes that back (`recordSuccess`): the account is reset and the IP gets its one attempt refunded
 * (never reset: one user's success must not clear an attacker's count behind the same NAT). So the
 * check and the charge are one atomic store operation, and N parallel requests cannot all slip
 * through a check made before any of them failed. `admit` never touches the user table, and keys
 * on the submitted email whether or not an account has it: a locked "account" answers the same for
 * unknown emails (no enumeration), and a refused attempt costs no password hash.
 *
 * Refusals are answers, never sleeps: 429 `AUTH_ERR_TOO_MANY_ATTEMPTS` (a delay, or the IP's lock)
 * or 423 `AUTH_ERR_ACCOUNT_LOCKED`, both with `Retry-After` in seconds. A refused attempt is not
 * counted (it checked no password).
 *
 * @example
 *   const guard = new SignInGuard({ store: new MemorySignInGuardStore(), metrics });
 *   const attempt = { collection: 'users', email: body.email, ip: request.ip };
 *   const admitted = await guard.admit(attempt);
 *   if (!admitted.ok) throw admitted.error; // before any hashing
 *   const user = await findUser(attempt.email);
 *   if (!(await verifyPassword(body.password, user?.passwordHash ?? DUMMY_HASH))) throw invalidCredentials();
 *   await guard.recordSuccess(attempt);
 */

export const DEFAULT_ACCOUNT_RULES: BackoffRules = Object.freeze({
  freeFailures: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  lockAfterFailures: 10,
  baseLockMs: 15 * 60_000,
  maxLockMs: 4 * 3_600_000,
  forgiveMs: 3_600_000,
  lockoutMemoryMs: 24 * 3_600_000,
});

export const DEFAULT_IP_RULES: BackoffRules = Object.freeze({
  freeFailures: 50,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  lockAfterFailures: 100,
  baseLockMs: 15 * 60_000,
  maxLockMs: 3_600_000,
  forgiveMs: 60_000,
  lockoutMemoryMs: 24 * 3_600_000,
});

export interface SignInGuardOptions {
  store: SignInGuardStore;
  /** Overrides of `DEFAULT_ACCOUNT_RULES`. */
  account?: Partial<BackoffRules>;
  /**
   * Overrides of `DEFAULT_IP_RULES`, or `false` for no per-IP accounting. Turn it off when the
   * client IP is not known (a proxy in front and `gateway.trustedProxies` not set: every client
   * would share the proxy's address, and one attacker would lock everyone out).
   */
  ip?: Partial<BackoffRules> | false;
  /**
   * When the store fails: `closed` (default) refuses sign-in with 503 `AUTH_ERR_GUARD_UNAVAILABLE`;
   * `open` admits the attempt unguarded. Closed by default because a defence that switches off
   * whenever its store is unreachable is a switch an attacker can try to flip.
   */
  failMode?: 'open' | 'closed';
  /** Milliseconds since the epoch (fractions floored). Default `Date.now`. */
  clock?: () => number;
  /** Registers `auth_sign_in_guard_total{outcome}` in this registry. */
  metrics?: Metrics;
  /** Called with each store failure (an `AUTH_ERR_GUARD_UNAVAILABLE`), e.g. to log it. */
  onStoreError?: (error: GroundworkError) => void;
}

export interface SignInAttempt {
  /** The auth collection signed in to (`users`, …): accounts in different collections are separate. */
  readonly collection: string;
  /** The email as submitted; trimmed, NFC-normalised and lower-cased for counting. */
  readonly email: string;
  /** The client address (the gateway's `clientIp`); `''` skips the per-IP accounting. */
  readonly ip: string;
}

export type SignInGuardResult =
  | { readonly ok: true; readonly degraded: boolean }
  | { readonly ok: false; readonly error: GroundworkError };

type Outcome = 'admitted' | 'delayed' | 'locked' | 'store_error';

const METRIC = 'auth_sign_in_guard_total';

export class SignInGuard {
  readonly accountRules: BackoffRules;
  readonly ipRules: BackoffRules | undefined;
  readonly #store: SignInGuardStore;
  readonly #failMode: 'open' | 'closed';
  readonly #clock: () => number;
  readonly #onStoreError: ((error: GroundworkError) => void) | undefined;
  readonly #counter: Counter<'outcome'> | undefined;

  constructor(options: SignInGuardOptions) {
    this.accountRules = Object.freeze({ ...DEFAULT_ACCOUNT_RULES, ...options.account });
    validateBackoffRules(this.accountRules, 'signInGuard.account');
    if (options.ip !== false) {
      this.ipRules = Object.freeze({ ...DEFAULT_IP_RULES, ...options.ip });
      validateBackoffRules(this.ipRules, 'signInGuard.ip');
    }
    const failMode = options.failMode ?? 'closed';
    if (failMode !== 'open' && failMode !== 'closed') {
      throw new GroundworkError('CONFIG_ERR_INVALID', {
        detail: `signInGuard.failMode must be "open" or "closed", got ${JSON.stringify(failMode)}.`,
      });
    }
    this.#store = options.store;
    this.#failMode = failMode;
    this.#clock = options.clock ?? Date.now;
    this.#onStoreError = options.onStoreError;
    if (options.metrics) {
      const registry = options.metrics.registry;
      // Several guards (one per auth collection, say) share the one counter of a registry.
      this.#counter =
        (registry.getSingleMetric(METRIC) as Counter<'outcome'> | undefined) ??
        new Counter({
          name: METRIC,
          help: 'Sign-in attempts decided by the brute-force guard, by outcome.',
          labelNames: ['outcome'],
          registers: [registry],
        });
    }
  }

  /**
   * Call before looking up the user or hashing anything. Admitted: the attempt is now counted as a
   * failure on the account and the IP until `recordSuccess`. Refused: `error` is the 429 or 423 to
   * send, with `Retry-After`; nothing was counted. Never rejects for a store failure (see
   * `failMode`).
   */
  async admit(attempt: SignInAttempt): Promise<SignInGuardResult> {
    const keys = this.#keys(attempt);
    let verdicts: GuardVerdict[];
    try {
      verdicts = await this.#store.admit(keys, Math.floor(this.#clock()));
    } catch (cause) {
      const error = this.#storeFailed(cause);
      if (this.#failMode === 'open') return { ok: true, degraded: true };
      return { ok: false, error };
    }
    if (verdicts.every((verdict) => verdict.outcome === 'admitted')) {
      this.#count('admitted');
      return { ok: true, degraded: false };
    }
    // The attempt is admitted once every refusing key would admit it: the longest wait.
    let retryAfterMs = 0;
    for (const verdict of verdicts) retryAfterMs = Math.max(retryAfterMs, verdict.retryAfterMs);
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1_000));
    const headers = { 'retry-after': String(seconds) };
    if (verdicts[0]!.outcome === 'locked') {
      this.#count('locked');
      return {
        ok: false,
        error: new GroundworkError('AUTH_ERR_ACCOUNT_LOCKED', {
          detail: `Too many failed sign-in attempts: this account is locked. Try again in ${seconds} s.`,
          headers,
        }),
      };
    }
    this.#count(verdicts.some((v) => v.outcome === 'locked') ? 'locked' : 'delayed');
    return {
      ok: false,
      error: new GroundworkError('AUTH_ERR_TOO_MANY_ATTEMPTS', {
        detail: `Too many failed sign-in attempts. Try again in ${seconds} s.`,
        headers,
      }),
    };
  }

  /**
   * The admitted attempt succeeded: resets the account (failures, lockouts, lock) and takes back
   * the IP's one charged attempt. Never rejects; a store failure goes to `onStoreError`.
   */
  async recordSuccess(attempt: SignInAttempt): Promise<void> {
    const [account, ip] = this.#keys(attempt);
    const nowMs = Math.floor(this.#clock());
    try {
      await Promise.all([
        this.#store.reset(account!.key),
        ...(ip === undefined ? [] : [this.#store.refund(ip, nowMs)]),
      ]);
    } catch (cause) {
      this.#storeFailed(cause);
    }
  }

  /**
   * Forgets the account's failures and lock, e.g. when a password reset completes. Rejects on a
   * store failure.
   */
  async resetAccount(account: { collection: string; email: string }): Promise<void> {
    await this.#store.reset(accountKey(account.collection, account.email));
  }

  #keys(attempt: SignInAttempt): GuardKey[] {
    const keys: GuardKey[] = [
      { key: accountKey(attempt.collection, attempt.email), rules: this.accountRules },
    ];
    if (this.ipRules !== undefined && attempt.ip !== '')
      keys.push({ key: ipKey(attempt.ip), rules: this.ipRules });
    return keys;
  }

  #storeFailed(cause: unknown): GroundworkError {
    const error =
      isGroundworkError(cause) && cause.code === 'AUTH_ERR_GUARD_UNAVAILABLE'
        ? cause
        : new GroundworkError('AUTH_ERR_GUARD_UNAVAILABLE', { cause });
    this.#count('store_error');
    try {
      this.#onStoreError?.(error);
    } catch {
      // A failing observer must not turn the fail mode's answer into an exception.
    }
    return error;
  }

  #count(outcome: Outcome): void {
    this.#counter?.inc({ outcome });
  }
}

/** The account's store key: a hash, so emails (personal data) never appear in Redis key names. */
export function accountKey(collection: string, email: string): string {
  const normalised = email.normalize('NFC').trim().toLowerCase();
  return `a:${digest(`${collection}\u0000${normalised}`)}`;
}

/** The IP's store key: IPv4 as is, IPv6 by its /64 (one subscriber usually holds a whole /64). */
export function ipKey(ip: string): string {
  return `i:${digest(ipScope(ip))}`;
}

/** `203.0.113.9` → itself; `2001:db8:1:2:3:4:5:6` → `2001:db8:1:2::/64`; `::ffff:1.2.3.4` → 1.2.3.4. */
export function ipScope(ip: string): string {
  const address = normalizeIp(ip.trim());
  if (isIP(address) !== 6 || address.includes('%')) return address;
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}
