/**
 * Sticky sessions by cookie, around any balancer: a request carrying a cookie that names an
 * available, non-excluded target goes there; any other request (no cookie, an unknown or forged
 * value, a target gone, unavailable or excluded by a retry) is picked by the inner balancer and the
 * caller sets the cookie to the new target's value (`pickSticky` says when), which re-pins it.
 *
 * Cookie values never reveal addresses:
 * - `'opaque'` (default): the first 22 characters of base64url(HMAC-SHA-256(secret, id)), or of
 *   SHA-256(id) when no secret is given (then anyone who knows the ids could compute them, which
 *   only lets a client choose among the group's targets).
 * - `'signed'`: `base64url(id).` followed by that MAC; readable in logs, needs a `secret`.
 * Either way the valid values are exactly one per target, computed on `setTargets`, so checking a
 * cookie is one map lookup (no per-request HMAC) and the same secret pins alike on every edge node.
 *
 * The cookie's name and attributes (`Path`, `HttpOnly`, `Secure`, `SameSite`, `Max-Age`) are the
 * proxy's business; this file decides only the value. `onStart` / `onEnd` / `setTargets` go to the
 * inner balancer, so load-aware algorithms also count pinned requests.
 */
import { createHash, createHmac } from 'node:crypto';
import {
  type Balancer,
  type BalancerName,
  invalidBalancer,
  isEligible,
  type PickContext,
  type RequestOutcome,
  type Target,
} from './balancer.js';

export interface StickySessionsOptions {
  /** `'opaque'` (default) or `'signed'`; see the file comment. */
  encoding?: 'opaque' | 'signed' | undefined;
  /** The MAC key; required for `'signed'`, recommended for `'opaque'`; at least 16 bytes. */
  secret?: string | Uint8Array | undefined;
}

/** A sticky pick: `setCookie` is the value to send in `Set-Cookie`, absent when the cookie stays. */
export interface StickyPick<T extends Target> {
  readonly target: T;
  readonly setCookie?: string | undefined;
}

/** Characters kept of the base64url MAC: 132 bits. */
const MAC_CHARS = 22;

export class StickySessions<T extends Target = Target> implements Balancer<T> {
  readonly name: BalancerName;
  readonly inner: Balancer<T>;
  readonly #encoding: 'opaque' | 'signed';
  readonly #secret: string | Uint8Array | undefined;
  /** Cookie value per id, cached across `setTargets` (ids are stable; HMACs are not free). */
  #valueById = new Map<string, string>();
  #targetByValue = new Map<string, T>();

  constructor(inner: Balancer<T>, options: StickySessionsOptions = {}) {
    this.inner = inner;
    this.name = inner.name;
    this.#encoding = options.encoding ?? 'opaque';
    this.#secret = options.secret;
    if (this.#encoding !== 'opaque' && this.#encoding !== 'signed') {
      throw invalidBalancer('sticky sessions: encoding must be "opaque" or "signed"');
    }
    if (this.#encoding === 'signed' && this.#secret === undefined) {
      throw invalidBalancer('sticky sessions: the "signed" encoding needs a secret');
    }
    if (this.#secret !== undefined && byteLength(this.#secret) < 16) {
      throw invalidBalancer('sticky sessions: the secret must be at least 16 bytes');
    }
    this.#index(inner.targets());
  }

  setTargets(targets: readonly T[]): void {
    this.inner.setTargets(targets);
    this.#index(this.inner.targets());
  }

  targets(): readonly T[] {
    return this.inner.targets();
  }

  pick(context?: PickContext): T | undefined {
    return this.pickSticky(context)?.target;
  }

  /** The pinned target when the cookie names an eligible one, else the inner pick and its cookie. */
  pickSticky(context: PickContext = {}): StickyPick<T> | undefined {
    const cookie = context.stickyCookie;
    if (cookie !== undefined) {
      const pinned = this.#targetByValue.get(cookie);
      if (pinned !== undefined && isEligible(pinned, context.exclude)) return { target: pinned };
    }
    const target = this.inner.pick(context);
    if (target === undefined) return undefined;
    return { target, setCookie: this.cookieValue(target) };
  }

  /** The cookie value that pins `target`. */
  cookieValue(target: T): string {
    let value = this.#valueById.get(target.id);
    if (value === undefined) {
      value = this.#compute(target.id);
      this.#valueById.set(target.id, value);
    }
    return value;
  }

  onStart(target: T): void {
    this.inner.onStart(target);
  }

  onEnd(target: T, outcome: RequestOutcome): void {
    this.inner.onEnd(target, outcome);
  }

  #index(targets: readonly T[]): void {
    const values = new Map<string, string>();
    const byValue = new Map<string, T>();
    for (const t of targets) {
      const value = this.#valueById.get(t.id) ?? this.#compute(t.id);
      values.set(t.id, value);
      byValue.set(value, t);
    }
    this.#valueById = values;
    this.#targetByValue = byValue;
  }

  #compute(id: string): string {
    const mac = (
      this.#secret === undefined
        ? createHash('sha256').update(id)
        : createHmac('sha256', this.#secret).update(id)
    )
      .digest('base64url')
      .slice(0, MAC_CHARS);
    return this.#encoding === 'signed' ? `${Buffer.from(id).toString('base64url')}.${mac}` : mac;
  }
}

function byteLength(secret: string | Uint8Array): number {
  return typeof secret === 'string' ? Buffer.byteLength(secret) : secret.byteLength;
}
