import fc from 'fast-check';
import type { CompareOp, FilterNode, LiteralValue, Operand } from './filter-ast.js';

/**
 * fast-check generators of filter trees, shared by the parser and compiler property tests.
 * (`.test-support.ts`: imported by tests only, never run as a test file itself.)
 */

const KEYWORDS = new Set(['true', 'false', 'null', 'in', 'not', 'is']);

const firstSegment = fc.stringMatching(/^[a-z_][a-z0-9_]{0,7}$/).filter((s) => !KEYWORDS.has(s));
const segment = fc.stringMatching(/^[A-Za-z0-9_]{1,6}$/);

export const literalValue: fc.Arbitrary<LiteralValue> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\0')),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);

export const operand: fc.Arbitrary<Operand> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('field' as const),
      path: fc.tuple(firstSegment, fc.array(segment, { maxLength: 3 })).map(([a, rest]) => [a, ...rest]),
    }),
  },
  { weight: 3, arbitrary: literalValue.map((value) => ({ kind: 'literal' as const, value })) },
  { weight: 1, arbitrary: segment.map((name) => ({ kind: 'auth' as const, name })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'now' as const }) },
);

export const compareOp: fc.Arbitrary<CompareOp> = fc.constantFrom('=', '!=', '>', '>=', '<', '<=', '~', '!~');

/** Leaves built from `operands`; `values` feed `in` lists. */
export function filterTree(
  operands: fc.Arbitrary<Operand> = operand,
  values: fc.Arbitrary<Operand> = operand,
): fc.Arbitrary<FilterNode> {
  const leaf: fc.Arbitrary<FilterNode> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('compare' as const),
        op: compareOp,
        left: operands,
        right: values,
        at: fc.constant(0),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('in' as const),
        negated: fc.boolean(),
        operand: operands,
        values: fc.array(values, { minLength: 1, maxLength: 5 }),
        at: fc.constant(0),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('null' as const),
        negated: fc.boolean(),
        operand: operands,
        at: fc.constant(0),
      }),
    },
  );
  const { tree } = fc.letrec<{ tree: FilterNode }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.record({
        kind: fc.constantFrom('and' as const, 'or' as const),
        children: fc.array(tie('tree'), { minLength: 2, maxLength: 3 }),
      }),
    ),
  }));
  return tree;
}

/** The tree without positions, for comparing a parse with the tree it was printed from. */
export function withoutPositions(node: FilterNode): unknown {
  if (node.kind === 'and' || node.kind === 'or')
    return { kind: node.kind, children: node.children.map(withoutPositions) };
  const { at: _at, ...rest } = node;
  return rest;
}
