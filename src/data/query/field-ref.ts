import { type RawBuilder, type SqlBool, sql } from 'kysely';
import type { DialectName } from '../../db/database.js';
import { type CollectionDef, type FieldDef, fieldsByName, isMultiple } from '../collections/collection.js';
import { JsonPath } from './json-path.js';
import { queryError, quote } from './query-errors.js';
import type { Condition } from './sql-fragments.js';

/** What the compiler needs to know about the query; see `compileFilter`. */
export interface QueryContext {
  readonly dialect: DialectName;
  /** The collection being queried; its columns are referred to as `<collection>.<column>`. */
  readonly collection: CollectionDef;
  /** The collection a relation field points at, by name. */
  resolve(name: string): CollectionDef | undefined;
  /** Values of `@auth.<name>` (e.g. `id`, `collection`); a missing name is null. */
  readonly auth: Readonly<Record<string, unknown>>;
  /** The clock for `@now`; defaults to the system clock. */
  readonly now?: () => Date;
  /**
   * For filters written by a caller (not rules): the condition a related record must also meet for
   * a relation path to see it — the target's view rule — or false when the caller may not view the
   * target at all. Without it, `author.secret ~ "a"` would let a caller probe fields of records
   * they cannot read. `alias` is the table alias of the related records in the subquery.
   */
  readonly guardRelation?: (target: CollectionDef, alias: string) => Condition;
  /** Distinguishes the aliases of a compilation nested in another (see guardRelation). */
  readonly aliasScope?: string;
}

/** Hands out table aliases (`_r1`, `_j2`, …) unique within one compiled expression. */
export class Aliases {
  #next = 1;
  readonly #scope: string;
  /** `scope` keeps aliases of a nested compilation (a relation guard) apart from the outer ones. */
  constructor(scope = '') {
    this.#scope = scope;
  }
  take(prefix: '_r' | '_j'): string {
    return `${prefix}${this.#scope}${this.#next++}`;
  }
}

/** The related records a relation path reads: the condition must hold for one of them. */
interface RelationScope {
  readonly multiple: boolean;
  readonly alias: string;
  readonly target: CollectionDef;
  /** The relation column of the outer table. */
  readonly source: RawBuilder<unknown>;
  /** Extra condition on the related record (see QueryContext.guardRelation); true when none. */
  readonly guard: Condition;
}

/** A path resolved to a column: a plain field, a JSON path, or a list (multi select/relation). */
export interface FieldRef {
  readonly field: FieldDef;
  /** The path as written, for messages. */
  readonly label: string;
  readonly column: RawBuilder<unknown>;
  /** Set for JSON fields (an empty path is the whole value). */
  readonly json: JsonPath | undefined;
  readonly multiple: boolean;
  readonly scope: RelationScope | undefined;
}

export function resolveField(
  path: readonly string[],
  at: number,
  ctx: QueryContext,
  aliases: Aliases,
): FieldRef {
  const label = path.join('.');
  const [first = '', second, ...more] = path;
  const field = fieldsByName(ctx.collection).get(first);
  if (!field) throw queryError('DATA_ERR_FILTER_FIELD', `Unknown field ${quote(first)}`, at);
  const column = sql.ref(`${ctx.collection.name}.${field.name}`);
  if (second === undefined || field.type === 'json')
    return plain(field, label, column, path.slice(1), ctx.dialect, undefined);
  if (field.type !== 'relation')
    throw queryError(
      'DATA_ERR_FILTER_FIELD',
      `Field ${quote(first)} (${field.type}) has no sub-fields; only JSON and relation fields do`,
      at,
    );
  const target = ctx.resolve(field.collection);
  if (!target)
    throw queryError(
      'DATA_ERR_FILTER_FIELD',
      `The collection of relation ${quote(first)} does not exist`,
      at,
    );
  const targetField = fieldsByName(target).get(second);
  if (!targetField)
    throw queryError('DATA_ERR_FILTER_FIELD', `Unknown field ${quote(`${first}.${second}`)}`, at);
  if (more.length > 0 && targetField.type !== 'json')
    throw queryError(
      'DATA_ERR_FILTER_FIELD',
      `${quote(`${first}.${second}`)} is not a JSON field; relation paths go one relation deep`,
      at,
    );
  const alias = aliases.take('_r');
  const guard = ctx.guardRelation ? ctx.guardRelation(target, alias) : true;
  const scope = { multiple: isMultiple(field), alias, target, source: column, guard };
  return plain(targetField, label, sql.ref(`${alias}.${targetField.name}`), more, ctx.dialect, scope);
}

function plain(
  field: FieldDef,
  label: string,
  column: RawBuilder<unknown>,
  jsonSegments: readonly string[],
  dialect: DialectName,
  scope: RelationScope | undefined,
): FieldRef {
  const json = field.type === 'json' ? new JsonPath(dialect, column, jsonSegments) : undefined;
  return { field, label, column, json, multiple: isMultiple(field), scope };
}

/**
 * `condition` evaluated over the related records of `ref`'s scope: EXISTS over the target table,
 * joined by id (single relation) or through the id list (multi relation).
 */
export function withinScope(
  ref: FieldRef,
  condition: Condition,
  dialect: DialectName,
  aliases: Aliases,
): Condition {
  const scope = ref.scope;
  if (!scope) return condition;
  if (condition === false || scope.guard === false) return false;
  const id = sql.ref(`${scope.alias}.id`);
  const table = sql`${sql.table(scope.target.name)} as ${sql.id(scope.alias)}`;
  const guarded =
    scope.guard === true
      ? condition
      : condition === true
        ? scope.guard
        : sql<SqlBool>`(${condition}) and (${scope.guard})`;
  const inner = guarded === true ? sql`` : sql` and (${guarded})`;
  if (!scope.multiple)
    return sql<SqlBool>`exists (select 1 from ${table} where ${id} = ${scope.source}${inner})`;
  if (dialect === 'sqlite') {
    const each = aliases.take('_j');
    return sql<SqlBool>`exists (select 1 from ${table} where ${id} in (select ${sql.ref(`${each}.value`)} from json_each(${scope.source}) as ${sql.id(each)})${inner})`;
  }
  // jsonb_array_elements_text raises on a non-array; the CASE keeps any stored value harmless.
  const list = sql`case when jsonb_typeof(${scope.source}) = 'array' then ${scope.source} else '[]'::jsonb end`;
  return sql<SqlBool>`exists (select 1 from ${table} where ${id} in (select jsonb_array_elements_text(${list}))${inner})`;
}

/** A list field (multi select / multi relation) holds `value` as an element. */
export function listContains(ref: FieldRef, value: string, dialect: DialectName, aliases: Aliases) {
  if (dialect === 'postgres') return sql<SqlBool>`${ref.column} @> jsonb_build_array(${value}::text)`;
  const each = aliases.take('_j');
  return sql<SqlBool>`exists (select 1 from json_each(${ref.column}) as ${sql.id(each)} where ${sql.ref(`${each}.value`)} = ${value})`;
}

/** A list field is NULL or empty. */
export function listEmpty(ref: FieldRef, dialect: DialectName) {
  return dialect === 'postgres'
    ? sql<SqlBool>`(${ref.column} is null or ${ref.column} = '[]'::jsonb)`
    : sql<SqlBool>`(${ref.column} is null or json_array_length(${ref.column}) = 0)`;
}
