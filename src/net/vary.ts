/**
 * `Vary` (RFC 9110 §12.5.5) is a list that several layers add to — CORS adds `Origin`, record reads
 * `Authorization, Cookie` — so it is merged, never replaced: a cache that lost one of them could
 * serve one caller's answer to another.
 */

/** `existing` plus the names of `added` it lacks (compared case-insensitively), in order. */
export function mergeVary(existing: unknown, added: string): string {
  if (typeof existing !== 'string' || existing.trim() === '') return added;
  const seen = new Set(existing.split(',').map((name) => name.trim().toLowerCase()));
  if (seen.has('*')) return existing;
  const missing = added
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '' && !seen.has(name.toLowerCase()));
  return missing.length === 0 ? existing : `${existing}, ${missing.join(', ')}`;
}
