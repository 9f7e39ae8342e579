/**
 * The query language of the data API: filters (`?filter=`, collection rules), sorts (`?sort=`)
 * and keyset cursors (`?cursor=`), compiled to Kysely expressions over a collection's table.
 */
export { type CursorValue, decodeCursor, encodeCursor, keysetCondition } from './cursor.js';
export {
  COMPARE_OPS,
  type CompareOp,
  type FilterNode,
  type LiteralValue,
  type Operand,
  printFilter,
} from './filter-ast.js';
export { compileFilter, type QueryContext } from './filter-compiler.js';
export {
  FILTER_MAX_COMPARISONS,
  FILTER_MAX_DEPTH,
  FILTER_MAX_IN_ITEMS,
  FILTER_MAX_LENGTH,
  parseFilter,
} from './filter-parser.js';
export {
  applySort,
  orderByItems,
  parseSort,
  printSort,
  SORT_MAX_KEYS,
  type SortDirection,
  type SortKey,
  type SortSpec,
} from './sort.js';
