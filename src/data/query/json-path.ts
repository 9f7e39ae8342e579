import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { DialectName } from '../../db/database.js';
import { containsPattern } from './sql-fragments.js';

/**
 * Comparisons of a value inside a JSON column, typed by the value compared with. Each returns a
 * condition that is TRUE only where the stored JSON value has the value's type and satisfies
 * the comparison; no stored JSON can make them raise an error (no casts of stored data):
 *
 * - SQLite: `json_type(col, path)` guards `json_extract(col, path)`; the path is `$."a"."b"` (keys
 *   only, quoted, from validated segments) and is bound as a parameter.
 * - PostgreSQL: the value is `col -> $1::text -> $2::text` (the text-key operator never indexes
 *   into arrays, matching SQLite's quoted keys), compared as jsonb with `to_jsonb($n::type)`
 *   under a `jsonb_typeof` guard; jsonb compares numbers numerically and strings by collation.
 */
export type JsonOp = '=' | '<' | '<=' | '>' | '>=';

export type JsonScalar = string | number | boolean;

export class JsonPath {
  readonly #dialect: DialectName;
  readonly #column: Expression<unknown>;
  readonly #segments: readonly string[];

  constructor(dialect: DialectName, column: Expression<unknown>, segments: readonly string[]) {
    this.#dialect = dialect;
    this.#column = column;
    this.#segments = segments;
  }

  /** The key is missing, or the value is JSON null (or the column is NULL). */
  isNull(): RawBuilder<SqlBool> {
    return sql<SqlBool>`coalesce(${this.#type()}, 'null') = 'null'`;
  }

  /** The stored value is `value` (same JSON type), or is ordered `op` against it. Booleans: `=` only. */
  compare(op: JsonOp, value: JsonScalar): RawBuilder<SqlBool> {
    if (this.#dialect === 'sqlite') {
      const type = this.#type();
      if (typeof value === 'boolean') return sql<SqlBool>`${type} = ${value ? 'true' : 'false'}`;
      const guard = typeof value === 'number' ? sql`${type} in ('integer', 'real')` : sql`${type} = 'text'`;
      return sql<SqlBool>`(${guard} and ${this.#sqliteValue()} ${operator(op)} ${value})`;
    }
    const x = this.#pgValue();
    if (typeof value === 'boolean') return sql<SqlBool>`${x} = to_jsonb(${value}::boolean)`;
    if (typeof value === 'number')
      return sql<SqlBool>`(jsonb_typeof(${x}) = 'number' and ${x} ${operator(op)} to_jsonb(${value}::numeric))`;
    return sql<SqlBool>`(jsonb_typeof(${x}) = 'string' and ${x} ${operator(op)} to_jsonb(${value}::text))`;
  }

  /** The stored value is a string containing `text`, ignoring ASCII case. */
  contains(text: string): RawBuilder<SqlBool> {
    const pattern = containsPattern(text);
    if (this.#dialect === 'sqlite')
      return sql<SqlBool>`(${this.#type()} = 'text' and ${this.#sqliteValue()} like ${pattern} escape '\\')`;
    const x = this.#pgValue();
    return sql<SqlBool>`(jsonb_typeof(${x}) = 'string' and (${x} #>> '{}') ilike ${pattern} escape '\\')`;
  }

  #sqliteValue(): RawBuilder<unknown> {
    return sql`json_extract(${this.#column}, ${this.#sqlitePath()})`;
  }

  #type(): RawBuilder<string | null> {
    return this.#dialect === 'sqlite'
      ? sql`json_type(${this.#column}, ${this.#sqlitePath()})`
      : sql`jsonb_typeof(${this.#pgValue()})`;
  }

  #sqlitePath(): string {
    return `$${this.#segments.map((segment) => `."${segment}"`).join('')}`;
  }

  #pgValue(): RawBuilder<unknown> {
    let value: RawBuilder<unknown> = sql`${this.#column}`;
    for (const segment of this.#segments) value = sql`(${value} -> ${segment}::text)`;
    return value;
  }
}

/** The SQL operator for a filter operator: fixed text chosen from this table, never from input. */
export function operator(op: JsonOp | '!='): RawBuilder<unknown> {
  switch (op) {
    case '=':
      return sql`=`;
    case '!=':
      return sql`<>`;
    case '<':
      return sql`<`;
    case '<=':
      return sql`<=`;
    case '>':
      return sql`>`;
    case '>=':
      return sql`>=`;
  }
}
