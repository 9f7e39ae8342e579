import { type RawBuilder, type SqlBool, sql } from 'kysely';

/**
 * A compiled condition: SQL, or a constant decided while compiling (a comparison between two
 * values, a comparison with a null `@auth` value). Constants fold away in `&&` / `||`.
 */
export type Condition = RawBuilder<SqlBool> | boolean;

const SQL_TRUE = sql<SqlBool>`1 = 1`;
const SQL_FALSE = sql<SqlBool>`1 = 0`;

export function toSql(condition: Condition): RawBuilder<SqlBool> {
  if (condition === true) return SQL_TRUE;
  if (condition === false) return SQL_FALSE;
  return condition;
}

/**
 * True exactly when `condition` is not TRUE (false or NULL): the negation the filter language's
 * `!=`, `!~` and `not in` need, since SQL's NOT keeps NULL as NULL. Both engines have `IS NOT TRUE`.
 */
export function notTrue(condition: Condition): Condition {
  if (typeof condition === 'boolean') return !condition;
  return sql<SqlBool>`(${condition}) is not true`;
}

export function allOf(conditions: readonly Condition[]): Condition {
  if (conditions.includes(false)) return false;
  const parts = conditions.filter((c): c is RawBuilder<SqlBool> => typeof c !== 'boolean');
  return parts.length === 0 ? true : balanced(parts, 'and');
}

export function anyOf(conditions: readonly Condition[]): Condition {
  if (conditions.includes(true)) return true;
  const parts = conditions.filter((c): c is RawBuilder<SqlBool> => typeof c !== 'boolean');
  return parts.length === 0 ? false : balanced(parts, 'or');
}

/** Joins as a balanced tree, so SQLite's expression depth limit (1000) is never approached. */
function balanced(parts: readonly RawBuilder<SqlBool>[], op: 'and' | 'or'): RawBuilder<SqlBool> {
  if (parts.length === 1) return parts[0] as RawBuilder<SqlBool>;
  const middle = Math.ceil(parts.length / 2);
  const left = balanced(parts.slice(0, middle), op);
  const right = balanced(parts.slice(middle), op);
  return op === 'and' ? sql<SqlBool>`(${left} and ${right})` : sql<SqlBool>`(${left} or ${right})`;
}

/** A LIKE pattern matching `text` anywhere, with `\`, `%` and `_` escaped (ESCAPE '\'). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** ASCII-only lower case: the case folding `~` promises on every engine. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
}
