import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';
import { adminRequired } from '../../auth/authenticator.js';
import { scopeAllows } from '../../auth/scopes.js';
import { GroundworkError } from '../../core/errors.js';
import type { DialectName } from '../../db/database.js';
import { authValues, type Principal } from '../../gateway/principal.js';
import type { CollectionDef, RuleName } from '../collections/collection.js';
import type { FilterNode } from '../query/filter-ast.js';
import { compileFilter } from '../query/filter-compiler.js';
import { parseFilter } from '../query/filter-parser.js';

/**
 * Access rules: per collection and operation, an expression in the filter language over the
 * record and `@auth.*`. `null` = admins only (the default); `""` = anyone; otherwise the rule is
 * compiled into the SQL WHERE clause of list/view/update/delete (a denied record never leaves
 * the database) and checked in SQL against the new row of a create/update, in its transaction.
 * Admins bypass rules.
 */
export type RuleDecision =
  | { readonly kind: 'all' }
  | { readonly kind: 'where'; readonly condition: Expression<SqlBool> };

export interface RuleScope {
  readonly principal: Principal;
  readonly dialect: DialectName;
  readonly resolve: (name: string) => CollectionDef | undefined;
}

/** Parsed rules, per definition object (a changed collection is a new object). */
const parsedRules = new WeakMap<CollectionDef, Map<string, FilterNode>>();

function parsed(def: CollectionDef, text: string): FilterNode {
  let cache = parsedRules.get(def);
  if (!cache) {
    cache = new Map();
    parsedRules.set(def, cache);
  }
  let node = cache.get(text);
  if (!node) {
    node = parseFilter(text);
    cache.set(text, node);
  }
  return node;
}

/**
 * What a caller may touch for `operation`: everything (admin, or rule `""`), rows matching a
 * condition, or nothing — then the admin-required error is thrown (401 anonymous, 403 otherwise).
 */
export function ruleFor(def: CollectionDef, operation: RuleName, scope: RuleScope): RuleDecision {
  const principal = scope.principal;
  if (principal.kind !== 'anonymous' && !scopeAllows(principal.scopes, def.name, operation))
    throw new GroundworkError('AUTH_ERR_SCOPE', {
      detail: `This API key's scopes do not include "${def.name}:${operation}".`,
    });
  if (principal.kind === 'admin') return { kind: 'all' };
  const rule = def.rules[operation];
  if (rule === null) throw adminRequired(scope.principal);
  if (rule.trim() === '') return { kind: 'all' };
  return { kind: 'where', condition: compileRule(def, rule, scope) };
}

export function compileRule(def: CollectionDef, rule: string, scope: RuleScope): Expression<SqlBool> {
  return compileFilter(parsed(def, rule), {
    dialect: scope.dialect,
    collection: def,
    resolve: scope.resolve,
    auth: authValues(scope.principal),
  });
}

/**
 * Compiles a filter a caller wrote (`?filter=`): `@auth.*` is the caller, and a relation path sees
 * only related records the caller may view (their view rule joins the subquery; none at all when
 * it is admin-only), so a filter cannot probe fields of records the caller cannot read.
 */
export function compileCallerFilter(def: CollectionDef, text: string, scope: RuleScope): Expression<SqlBool> {
  let guards = 0;
  const scopes = scope.principal.kind === 'anonymous' ? undefined : scope.principal.scopes;
  return compileFilter(parseFilter(text), {
    dialect: scope.dialect,
    collection: def,
    resolve: scope.resolve,
    auth: authValues(scope.principal),
    ...(scope.principal.kind === 'admin' && scopes === undefined
      ? {}
      : {
          guardRelation: (target: CollectionDef, alias: string) => {
            if (!scopeAllows(scopes, target.name, 'view')) return false;
            if (scope.principal.kind === 'admin') return true;
            const rule = target.rules.view;
            if (rule === null) return false;
            if (rule.trim() === '') return true;
            return compileFilter(parsed(target, rule), {
              dialect: scope.dialect,
              collection: { ...target, name: alias },
              resolve: scope.resolve,
              auth: authValues(scope.principal),
              aliasScope: `g${++guards}_`,
            }) as RawBuilder<SqlBool>;
          },
        }),
  });
}

/** Validates a rule when a collection is defined: it must parse and compile against the collection. */
export function checkRule(
  rule: string,
  def: CollectionDef,
  resolve: (name: string) => CollectionDef | undefined,
): void {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    compileFilter(parseFilter(rule), { dialect, collection: def, resolve, auth: {} });
  }
}

export const TRUE: Expression<SqlBool> = sql<SqlBool>`1 = 1`;
