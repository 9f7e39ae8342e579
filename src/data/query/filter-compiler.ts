import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';
import { storageOf } from '../collections/collection.js';
import {
  Aliases,
  type FieldRef,
  listContains,
  listEmpty,
  type QueryContext,
  resolveField,
  withinScope,
} from './field-ref.js';
import type { CompareOp, FilterNode, Operand } from './filter-ast.js';
import { operator } from './json-path.js';
import { queryError, quote } from './query-errors.js';
import { allOf, anyOf, type Condition, containsPattern, notTrue, toSql } from './sql-fragments.js';
import { compareValues, describe, fieldParameter, resolveValue, unusable, type Value } from './values.js';

export type { QueryContext } from './field-ref.js';

/**
 * Compiles a parsed filter into a condition for a Kysely query over `ctx.collection`'s table
 * (semantics: see `filter-parser.ts`). Every value of the filter and of `ctx.auth` reaches the
 * SQL as a bound parameter; identifiers come only from the collection definitions. Throws
 * DATA_ERR_FILTER_FIELD (unknown field, operator not allowed on it) or DATA_ERR_FILTER_VALUE.
 *
 * @example
 *   const where = compileFilter(parseFilter('owner = @auth.id'), ctx);
 *   await db.kysely.selectFrom('posts').selectAll().where(where).execute();
 */
export function compileFilter(ast: FilterNode, ctx: QueryContext): Expression<SqlBool> {
  const now = (ctx.now ?? (() => new Date()))().toISOString();
  return toSql(new Compiler(ctx, now).node(ast));
}

type ValueOperand = Exclude<Operand, { kind: 'field' }>;

const FLIPPED: Record<CompareOp, CompareOp | undefined> = {
  '=': '=',
  '!=': '!=',
  '<': '>',
  '<=': '>=',
  '>': '<',
  '>=': '<=',
  '~': undefined,
  '!~': undefined,
};

class Compiler {
  readonly #aliases: Aliases;

  constructor(
    readonly ctx: QueryContext,
    readonly now: string,
  ) {
    this.#aliases = new Aliases(ctx.aliasScope);
  }

  node(node: FilterNode): Condition {
    switch (node.kind) {
      case 'and':
        return allOf(node.children.map((child) => this.node(child)));
      case 'or':
        return anyOf(node.children.map((child) => this.node(child)));
      case 'null':
        return this.#nullTest(node.operand, node.negated, node.at);
      case 'in':
        return this.#in(node.operand, node.values, node.negated, node.at);
      case 'compare':
        return this.#compare(node.op, node.left, node.right, node.at);
    }
  }

  #value(operand: ValueOperand): Value {
    return resolveValue(operand, this.ctx.auth, this.now);
  }

  #field(operand: Extract<Operand, { kind: 'field' }>, at: number): FieldRef {
    return resolveField(operand.path, at, this.ctx, this.#aliases);
  }

  #scoped(ref: FieldRef, condition: Condition): Condition {
    return withinScope(ref, condition, this.ctx.dialect, this.#aliases);
  }

  #nullTest(operand: Operand, negated: boolean, at: number): Condition {
    if (operand.kind !== 'field') {
      const value = this.#value(operand);
      return (value.value === null) !== negated;
    }
    const ref = this.#field(operand, at);
    let isNull: Condition;
    if (ref.json) isNull = ref.json.isNull();
    else if (ref.multiple) isNull = listEmpty(ref, this.ctx.dialect);
    else return this.#scoped(ref, negated ? sql`${ref.column} is not null` : sql`${ref.column} is null`);
    return this.#scoped(ref, negated ? notTrue(isNull) : isNull);
  }

  #compare(op: CompareOp, left: Operand, right: Operand, at: number): Condition {
    const isNull = (o: Operand) => o.kind === 'literal' && o.value === null;
    if ((op === '=' || op === '!=') && (isNull(left) || isNull(right)))
      return this.#nullTest(isNull(left) ? right : left, op === '!=', at);
    if (left.kind !== 'field' && right.kind === 'field') {
      const flipped = FLIPPED[op];
      if (!flipped)
        throw queryError(
          'DATA_ERR_FILTER_FIELD',
          `"${op}" needs the field on its left and the value on its right`,
          at,
        );
      return this.#compare(flipped, right, left, at);
    }
    if (left.kind !== 'field')
      return compareValues(op, this.#value(left), this.#value(right as ValueOperand), at);
    const ref = this.#field(left, at);
    if (right.kind === 'field') return this.#fieldVsField(op, ref, this.#field(right, at), at);
    return this.#scoped(ref, this.#fieldVsValue(op, ref, this.#value(right), at));
  }

  #fieldVsValue(op: CompareOp, ref: FieldRef, value: Value, at: number): Condition {
    const negated = op === '!=' || op === '!~';
    const positive: CompareOp = op === '!=' ? '=' : op === '!~' ? '~' : op;
    if (value.source === 'literal' && value.value === null)
      throw queryError('DATA_ERR_FILTER_VALUE', `null can only be compared with "=" or "!="`, at);
    if (ref.multiple) {
      if (positive !== '~')
        throw queryError(
          'DATA_ERR_FILTER_FIELD',
          `${quote(ref.label)} is a list: use "~", "!~" or "is null"`,
          at,
        );
      if (unusable(value)) return false;
      if (typeof value.value !== 'string') return this.#misfit(ref, value, 'a string', at);
      const found = listContains(ref, value.value, this.ctx.dialect, this.#aliases);
      return negated ? notTrue(found) : found;
    }
    if (ref.json) {
      if (unusable(value)) return false;
      const v = value.value as string | number | boolean;
      if (positive === '~') {
        if (typeof v !== 'string') return this.#misfit(ref, value, 'a string after "~"', at);
        return negated ? notTrue(ref.json.contains(v)) : ref.json.contains(v);
      }
      if (typeof v === 'boolean' && positive !== '=') {
        if (value.source === 'auth') return false;
        throw queryError(
          'DATA_ERR_FILTER_FIELD',
          `Booleans in ${quote(ref.label)} compare with "=" or "!="`,
          at,
        );
      }
      const found = ref.json.compare(positive, v);
      return negated ? notTrue(found) : found;
    }
    const storage = storageOf(ref.field);
    if (positive === '~' && storage !== 'text')
      throw queryError(
        'DATA_ERR_FILTER_FIELD',
        `"${op}" applies to text fields; ${quote(ref.label)} is ${ref.field.type}`,
        at,
      );
    if (unusable(value)) return false;
    const fit = fieldParameter(ref.field, ref.label, value, this.ctx.dialect, at);
    if (!fit) return false;
    const param = fit.param;
    if (op === '~' || op === '!~') {
      if (typeof param !== 'string') return false;
      const like = this.#like(ref.column, param);
      return op === '~' ? like : notTrue(like);
    }
    if (op === '!=')
      return this.ctx.dialect === 'postgres'
        ? sql<SqlBool>`${ref.column} is distinct from ${param}`
        : sql<SqlBool>`${ref.column} is not ${param}`;
    return sql<SqlBool>`${ref.column} ${operator(op)} ${param}`;
  }

  #like(column: RawBuilder<unknown>, text: string): RawBuilder<SqlBool> {
    const pattern = containsPattern(text);
    return this.ctx.dialect === 'postgres'
      ? sql<SqlBool>`${column} ilike ${pattern} escape '\\'`
      : sql<SqlBool>`${column} like ${pattern} escape '\\'`;
  }

  #misfit(ref: FieldRef, value: Value, expected: string, at: number): false {
    if (value.source === 'auth') return false;
    throw queryError(
      'DATA_ERR_FILTER_VALUE',
      `${quote(ref.label)} expects ${expected}; got ${describe(value)}`,
      at,
    );
  }

  #fieldVsField(op: CompareOp, a: FieldRef, b: FieldRef, at: number): Condition {
    for (const ref of [a, b])
      if (ref.json || ref.multiple)
        throw queryError('DATA_ERR_FILTER_FIELD', `${quote(ref.label)} can only be compared with values`, at);
    if (op === '~' || op === '!~')
      throw queryError('DATA_ERR_FILTER_FIELD', `"${op}" compares a field with a value, not two fields`, at);
    const [sa, sb] = [storageOf(a.field), storageOf(b.field)];
    const numeric = (s: string) => s === 'integer' || s === 'float';
    if (sa !== sb && !(numeric(sa) && numeric(sb)))
      throw queryError(
        'DATA_ERR_FILTER_FIELD',
        `Cannot compare ${quote(a.label)} (${a.field.type}) with ${quote(b.label)} (${b.field.type})`,
        at,
      );
    const pg = this.ctx.dialect === 'postgres';
    let condition: RawBuilder<SqlBool>;
    // Between two fields, null equals null: `=` is IS NOT DISTINCT FROM, `!=` its negation.
    if (op === '=')
      condition = pg ? sql`${a.column} is not distinct from ${b.column}` : sql`${a.column} is ${b.column}`;
    else if (op === '!=')
      condition = pg ? sql`${a.column} is distinct from ${b.column}` : sql`${a.column} is not ${b.column}`;
    else condition = sql`${a.column} ${operator(op)} ${b.column}`;
    return this.#scoped(a, this.#scoped(b, condition));
  }

  #in(operand: Operand, items: readonly Operand[], negated: boolean, at: number): Condition {
    const values = items.map((item) => {
      if (item.kind === 'field')
        throw queryError(
          'DATA_ERR_FILTER_FIELD',
          `"in" lists hold values, not fields like ${quote(item.path.join('.'))}`,
          at,
        );
      return this.#value(item);
    });
    if (operand.kind !== 'field') {
      const value = this.#value(operand);
      const found = values.map((item) => compareValues('=', value, item, at));
      if (unusable(value) || values.some(unusable)) return false;
      return found.includes(true) !== negated;
    }
    const ref = this.#field(operand, at);
    if (ref.multiple)
      throw queryError(
        'DATA_ERR_FILTER_FIELD',
        `${quote(ref.label)} is a list: use "~", "!~" or "is null"`,
        at,
      );
    const conditions: Condition[] = [];
    const params: unknown[] = [];
    for (const value of values) {
      if (unusable(value)) return false;
      if (value.value === null)
        conditions.push(ref.json ? ref.json.isNull() : sql<SqlBool>`${ref.column} is null`);
      else if (ref.json) conditions.push(this.#fieldVsValue('=', ref, value, at));
      else {
        const fit = fieldParameter(ref.field, ref.label, value, this.ctx.dialect, at);
        if (!fit) return false;
        params.push(fit.param);
      }
    }
    if (params.length > 0) conditions.push(sql<SqlBool>`${ref.column} in (${sql.join(params)})`);
    const found = anyOf(conditions);
    return this.#scoped(ref, negated ? notTrue(found) : found);
  }
}
