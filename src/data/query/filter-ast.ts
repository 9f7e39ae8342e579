/**
 * The syntax tree of a filter, as `parseFilter` produces it and `compileFilter` consumes it.
 * `at` is the 1-based column of the node's first character in the filter text, so errors found
 * while compiling (unknown field, value of the wrong type) can point at the spot.
 */

export type CompareOp = '=' | '!=' | '>' | '>=' | '<' | '<=' | '~' | '!~';

export const COMPARE_OPS: readonly CompareOp[] = ['=', '!=', '>', '>=', '<', '<=', '~', '!~'];

export type LiteralValue = string | number | boolean | null;

export type Operand =
  /** A field of the queried collection, a JSON path into it, or a path through a relation. */
  | { readonly kind: 'field'; readonly path: readonly string[] }
  | { readonly kind: 'literal'; readonly value: LiteralValue }
  /** `@auth.<name>`: looked up in the compiler's auth map. */
  | { readonly kind: 'auth'; readonly name: string }
  /** `@now`: the compile time, as a datetime. */
  | { readonly kind: 'now' };

export type FilterNode =
  /** Two or more children, all of which must hold. */
  | { readonly kind: 'and'; readonly children: readonly FilterNode[] }
  /** Two or more children, one of which must hold. */
  | { readonly kind: 'or'; readonly children: readonly FilterNode[] }
  | {
      readonly kind: 'compare';
      readonly op: CompareOp;
      readonly left: Operand;
      readonly right: Operand;
      readonly at: number;
    }
  /** `x in (a, b)`, or `x not in (a, b)` when negated. */
  | {
      readonly kind: 'in';
      readonly negated: boolean;
      readonly operand: Operand;
      readonly values: readonly Operand[];
      readonly at: number;
    }
  /** `x is null`, or `x is not null` when negated. */
  | { readonly kind: 'null'; readonly negated: boolean; readonly operand: Operand; readonly at: number };

/**
 * Filter text that parses back to `node` (positions aside). Compound children are always
 * parenthesised, so the printed text keeps the tree's shape exactly.
 *
 * @example printFilter(parseFilter('a=1&&b~"x"')) // 'a = 1 && b ~ "x"'
 */
export function printFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'and':
    case 'or':
      return node.children
        .map((child) =>
          child.kind === 'and' || child.kind === 'or' ? `(${printFilter(child)})` : printFilter(child),
        )
        .join(node.kind === 'and' ? ' && ' : ' || ');
    case 'compare':
      return `${printOperand(node.left)} ${node.op} ${printOperand(node.right)}`;
    case 'in':
      return `${printOperand(node.operand)} ${node.negated ? 'not in' : 'in'} (${node.values.map(printOperand).join(', ')})`;
    case 'null':
      return `${printOperand(node.operand)} ${node.negated ? 'is not null' : 'is null'}`;
  }
}

export function printOperand(operand: Operand): string {
  switch (operand.kind) {
    case 'field':
      return operand.path.join('.');
    case 'auth':
      return `@auth.${operand.name}`;
    case 'now':
      return '@now';
    case 'literal':
      return printLiteral(operand.value);
  }
}

function printLiteral(value: LiteralValue): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}
