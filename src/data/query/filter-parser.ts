/**
 * # The filter language
 *
 * Used by `?filter=` on list endpoints and by collection rules. Grammar (`&&` binds tighter than
 * `||`; both are left-associative; parentheses group):
 *
 * ```
 * filter     := or
 * or         := and ("||" and)*
 * and        := group ("&&" group)*
 * group      := "(" or ")" | comparison
 * comparison := operand op operand
 *             | operand ["not"] "in" "(" operand ("," operand)* ")"
 *             | operand "is" ["not"] "null"
 * op         := "=" | "!=" | ">" | ">=" | "<" | "<=" | "~" | "!~"
 * operand    := path | string | number | "true" | "false" | "null" | "@now" | "@auth." name
 * path       := name ("." segment)*        name: [A-Za-z_][A-Za-z0-9_]*   segment: [A-Za-z0-9_]+
 * ```
 *
 * Strings are in "…" or '…' with escapes `\" \' \\ \/ \n \t \r \b \f \uXXXX` (so a JSON string
 * is a valid string literal: clients can quote values with JSON.stringify); they may not contain
 * U+0000 or unpaired surrogates. Numbers are decimal with optional sign, fraction and exponent,
 * and must be finite. Keywords are lowercase. An empty filter is a syntax error: callers treat an
 * absent or blank `?filter=` as "no filter" before parsing.
 *
 * ## Meaning
 *
 * - **Paths.** `title` is a field (system fields `id`, `created`, `updated` included).
 *   `meta.a.b` walks into a JSON field by object keys (a key that is all digits is still a key,
 *   never an array index). `author.name` reads a field of the record a relation field points at,
 *   one relation deep; `author.meta.a` then walks into that record's JSON field. A comparison on a
 *   relation path holds when *some* related record satisfies it (for a multi relation: any of
 *   them); a record with no related record never matches it (test `author is null` for that).
 *   So `author.name != "x"` holds when the author exists and is not named "x". An unknown field,
 *   or a path that does not fit the field, is DATA_ERR_FILTER_FIELD.
 * - **Typed comparisons.** A value is checked against the field's type: numbers for number
 *   fields (integers within ±2^53 for integer fields), `true`/`false` for booleans, strings for
 *   text, email, url, select and relation fields (a relation compares the related record's id),
 *   and for datetime fields a date-time string (RFC 3339, any offset, or a bare date) or `@now`.
 *   A value of the wrong type is DATA_ERR_FILTER_VALUE. Two fields can be compared when their
 *   storage matches (numbers with numbers); JSON paths and multi-valued fields compare only with
 *   values. Text orders (`<`, `>`) by code point on SQLite and by the database collation on
 *   PostgreSQL (also code point under the C / C.UTF-8 collations).
 * - **`in`.** `x in (a, b)` means `x = a || x = b` (values only, `null` allowed); `not in` is its
 *   negation, so it holds for a null `x` unless null is listed.
 * - **Null is a value.** `x = null` and `x is null` test for null; `x != null` and `x is not null`
 *   for a value. `x = "a"` never holds for a null `x`, and `x != "a"` always does (likewise `!~`
 *   and `not in`): each negated operator is exactly the negation of the positive one. Between two
 *   fields, `=` treats two nulls as equal. `<`, `<=`, `>`, `>=` never hold for null.
 * - **`~` / `!~`** on text: case-insensitive substring (`%` and `_` are plain characters).
 *   Case folding covers ASCII letters on every engine; PostgreSQL also folds other letters.
 *   The left side must be a field, the right side a string value.
 * - **Multi-valued fields** (multi select, multi relation): `tags ~ "x"` holds when the list
 *   contains exactly "x", `!~` when it does not; `is null` / `= null` hold for a null or empty
 *   list. Other operators are DATA_ERR_FILTER_FIELD.
 * - **JSON paths** compare by the type of the value: `meta.n > 5` holds only where the stored
 *   JSON value is a number greater than 5, `meta.s = "x"` only where it is the string "x",
 *   `meta.b = true` where it is `true` (booleans allow only `=` and `!=`), `meta.k = null` where
 *   the key is missing or JSON null. Stored JSON of any shape never causes an error. A path
 *   into a JSON field with no further keys (`meta = 5`) compares the whole value. `@now` compares
 *   with JSON values as its ISO-8601 text.
 * - **`@now`** is the time the filter is compiled. **`@auth.<name>`** is the caller's value
 *   (e.g. `@auth.id`, `@auth.collection`); a missing name is null.
 *   *A comparison with an `@auth` value that is null, missing, or not of the field's type is
 *   false*, whatever the operator (`!=`, `!~` and `not in` included), so `owner = @auth.id` and
 *   `owner != @auth.id` both deny anonymous callers; in an `in` list, one such value makes the
 *   whole `in` / `not in` false. Only explicit null tests look at a null `@auth` value:
 *   `@auth.id = null`, `@auth.id != null`, `@auth.id is [not] null`.
 * - A comparison between two values (`@auth.role = "admin"`, `@now > "2025-01-01"`) is decided
 *   when compiling; two literals of different types (`"1" = 1`) are DATA_ERR_FILTER_VALUE.
 *
 * ## Limits (DATA_ERR_FILTER_LIMIT)
 *
 * At most FILTER_MAX_LENGTH characters, FILTER_MAX_DEPTH nested parentheses, FILTER_MAX_IN_ITEMS
 * values in one `in` list and FILTER_MAX_COMPARISONS comparisons in all.
 */
import type { CompareOp, FilterNode, Operand } from './filter-ast.js';
import { type Token, tokenize } from './lexer.js';
import { queryError, quote } from './query-errors.js';

export const FILTER_MAX_LENGTH = 4096;
export const FILTER_MAX_DEPTH = 32;
export const FILTER_MAX_IN_ITEMS = 200;
export const FILTER_MAX_COMPARISONS = 100;

/**
 * Parses filter text into a tree. Throws a GroundworkError with DATA_ERR_FILTER_SYNTAX,
 * DATA_ERR_FILTER_VALUE or DATA_ERR_FILTER_LIMIT; nothing else. Recursion is bounded by
 * FILTER_MAX_DEPTH, so no input can overflow the stack.
 *
 * @example parseFilter('status = "open" && (owner = @auth.id || public = true)')
 */
export function parseFilter(text: string): FilterNode {
  if (text.length > FILTER_MAX_LENGTH)
    throw queryError('DATA_ERR_FILTER_LIMIT', `A filter may be at most ${FILTER_MAX_LENGTH} characters long`);
  return new Parser(text, tokenize(text)).parse();
}

class Parser {
  #pos = 0;
  #depth = 0;
  #comparisons = 0;

  constructor(
    readonly text: string,
    readonly tokens: readonly Token[],
  ) {}

  parse(): FilterNode {
    const node = this.#or();
    const next = this.#peek();
    if (next.type === ')') throw queryError('DATA_ERR_FILTER_SYNTAX', 'Unmatched ")"', next.at);
    if (next.type !== 'end') throw this.#expected('"&&", "||" or the end of the filter');
    return node;
  }

  #or(): FilterNode {
    const children = [this.#and()];
    while (this.#peek().type === '||') {
      this.#pos++;
      children.push(this.#and());
    }
    return children.length === 1 ? (children[0] as FilterNode) : { kind: 'or', children };
  }

  #and(): FilterNode {
    const children = [this.#group()];
    while (this.#peek().type === '&&') {
      this.#pos++;
      children.push(this.#group());
    }
    return children.length === 1 ? (children[0] as FilterNode) : { kind: 'and', children };
  }

  #group(): FilterNode {
    const token = this.#peek();
    if (token.type !== '(') return this.#comparison();
    if (++this.#depth > FILTER_MAX_DEPTH)
      throw queryError(
        'DATA_ERR_FILTER_LIMIT',
        `Parentheses may be nested at most ${FILTER_MAX_DEPTH} deep`,
        token.at,
      );
    this.#pos++;
    const inner = this.#or();
    if (this.#peek().type !== ')') throw this.#expected('")" or "&&" or "||"');
    this.#pos++;
    this.#depth--;
    return inner;
  }

  #comparison(): FilterNode {
    const start = this.#peek();
    const left = this.#operand();
    if (++this.#comparisons > FILTER_MAX_COMPARISONS)
      throw queryError(
        'DATA_ERR_FILTER_LIMIT',
        `A filter may hold at most ${FILTER_MAX_COMPARISONS} comparisons`,
        start.at,
      );
    const at = start.at;
    const token = this.#peek();
    if (token.type === 'op') {
      this.#pos++;
      return { kind: 'compare', op: token.value as CompareOp, left, right: this.#operand(), at };
    }
    if (token.type === 'keyword' && token.value === 'is') {
      this.#pos++;
      const negated = this.#takeKeyword('not');
      if (!this.#takeKeyword('null')) throw this.#expected(negated ? '"null"' : '"null" or "not null"');
      return { kind: 'null', negated, operand: left, at };
    }
    if (token.type === 'keyword' && (token.value === 'in' || token.value === 'not')) {
      this.#pos++;
      const negated = token.value === 'not';
      if (negated && !this.#takeKeyword('in')) throw this.#expected('"in" after "not"');
      return { kind: 'in', negated, operand: left, values: this.#list(), at };
    }
    throw this.#expected('an operator (=, !=, >, >=, <, <=, ~, !~, in, not in, is)');
  }

  #list(): Operand[] {
    if (this.#peek().type !== '(') throw this.#expected('"(" to open the list');
    this.#pos++;
    const values = [this.#operand()];
    while (this.#peek().type === ',') {
      const comma = this.#peek();
      this.#pos++;
      values.push(this.#operand());
      if (values.length > FILTER_MAX_IN_ITEMS)
        throw queryError(
          'DATA_ERR_FILTER_LIMIT',
          `An "in" list may hold at most ${FILTER_MAX_IN_ITEMS} values`,
          comma.at,
        );
    }
    if (this.#peek().type !== ')') throw this.#expected('"," or ")" in the list');
    this.#pos++;
    return values;
  }

  #operand(): Operand {
    const token = this.#peek();
    switch (token.type) {
      case 'path':
        this.#pos++;
        return { kind: 'field', path: token.segments };
      case 'string':
      case 'number':
        this.#pos++;
        return { kind: 'literal', value: token.value };
      case 'auth':
        this.#pos++;
        return { kind: 'auth', name: token.name };
      case 'now':
        this.#pos++;
        return { kind: 'now' };
      case 'keyword':
        if (token.value === 'true' || token.value === 'false' || token.value === 'null') {
          this.#pos++;
          return { kind: 'literal', value: token.value === 'null' ? null : token.value === 'true' };
        }
        break;
    }
    throw this.#expected('a field name or a value');
  }

  #takeKeyword(word: string): boolean {
    const token = this.#peek();
    if (token.type !== 'keyword' || token.value !== word) return false;
    this.#pos++;
    return true;
  }

  #peek(): Token {
    // The lexer always ends the list with an 'end' token, and no rule consumes it.
    return this.tokens[Math.min(this.#pos, this.tokens.length - 1)] as Token;
  }

  #expected(what: string) {
    const token = this.#peek();
    const found =
      token.type === 'end' ? 'the end of the filter' : quote(this.text.slice(token.at - 1, token.at + 19));
    return queryError('DATA_ERR_FILTER_SYNTAX', `Expected ${what} but found ${found}`, token.at);
  }
}
