import type { RuleName } from '../data/collections/collection.js';

/**
 * API-key scopes: `<collection>:<operation>` with `operation` one of list, view, create, update,
 * delete, or `*`, and `collection` a name or `*` (`posts:list`, `posts:*`, `*:view`). A scoped key
 * can do only what a scope allows — and, for a user's key, only what the user could do anyway
 * (rules still apply). `@auth.scopes` is the space-separated list (OAuth style), so a rule can say
 * `@auth.scopes ~ "posts:create"`.
 */
export const MAX_SCOPES = 64;
const OPERATIONS = new Set(['list', 'view', 'create', 'update', 'delete', '*']);
const SCOPE_PATTERN = /^(\*|[a-z][a-z0-9_]{0,47}):([a-z*]+)$/;

/** Why `scopes` is not a valid scope list, or undefined. */
export function scopesProblem(scopes: unknown): string | undefined {
  if (!Array.isArray(scopes)) return 'must be an array of "collection:operation" strings';
  if (scopes.length === 0) return 'must name at least one scope';
  if (scopes.length > MAX_SCOPES) return `must have at most ${MAX_SCOPES} scopes`;
  for (const scope of scopes) {
    const match = typeof scope === 'string' ? SCOPE_PATTERN.exec(scope) : null;
    if (!match || !OPERATIONS.has(match[2]!))
      return `"${String(scope).slice(0, 64)}" is not "collection:operation" (operation: list, view, create, update, delete or *)`;
  }
  return undefined;
}

/** True when one of `scopes` covers `operation` on `collection`; undefined scopes allow everything. */
export function scopeAllows(
  scopes: readonly string[] | undefined,
  collection: string,
  operation: RuleName,
): boolean {
  if (scopes === undefined) return true;
  for (const scope of scopes) {
    const colon = scope.indexOf(':');
    const c = scope.slice(0, colon);
    const o = scope.slice(colon + 1);
    if ((c === '*' || c === collection) && (o === '*' || o === operation)) return true;
  }
  return false;
}
