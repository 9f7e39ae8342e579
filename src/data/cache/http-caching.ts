/**
 * HTTP caching of record reads (RFC 9111, RFC 9110 §13): `Cache-Control` per collection, `Vary`,
 * and `Last-Modified` / `If-Modified-Since` for reads by id (the strong `ETag` and
 * `If-None-Match` are in `records/record-rows.ts`).
 *
 * `Cache-Control`:
 * - no `cache.httpCache`: `no-store` when any rule involved in the read is not `""` (rule-protected
 *   data must not sit in browser or proxy caches), else `no-cache` (store, but revalidate with the
 *   ETag every time);
 * - `httpCache: { visibility, maxAgeS }`: `private, max-age=N` (or `private, no-cache` for 0).
 *   `public` is sent only to anonymous callers and only when no rule involved protects anything
 *   (an expanded relation can pull protected records into a public collection's response); the
 *   definition check refuses `public` on a collection whose own list/view rules are not `""`.
 *
 * `Vary: Authorization, Cookie` on every record read: what a read returns can depend on the caller
 * (rules, API-key scopes, admin bypass), so a cache must key on the credentials. The server does
 * not compress responses; if it did, `Accept-Encoding` would join the list.
 */
import type { Principal } from '../../gateway/principal.js';
import type { CollectionDef } from '../collections/collection.js';
import type { ReadPlan } from './read-plan.js';

export const READ_VARY = 'Authorization, Cookie';

export function cacheControlFor(def: CollectionDef, plan: ReadPlan, principal: Principal): string {
  const http = def.cache?.httpCache;
  if (http === undefined) return plan.protected ? 'no-store' : 'no-cache';
  const shared = http.visibility === 'public' && !plan.protected && principal.kind === 'anonymous';
  return `${shared ? 'public' : 'private'}, ${http.maxAgeS > 0 ? `max-age=${http.maxAgeS}` : 'no-cache'}`;
}

/** `Last-Modified` (an IMF-fixdate) from a record's `updated` time. */
export function lastModifiedOf(updated: string): string {
  return new Date(updated).toUTCString();
}

/**
 * RFC 9110 §13.1.3 If-Modified-Since for GET: true when the record has not changed since the
 * given date (→ 304). An unparsable date is ignored. HTTP dates have whole seconds, so `updated`
 * is compared truncated to its second.
 */
export function notModifiedSince(header: string | undefined, updated: string): boolean {
  if (header === undefined) return false;
  const since = Date.parse(header);
  if (Number.isNaN(since)) return false;
  return Math.floor(Date.parse(updated) / 1000) * 1000 <= since;
}
