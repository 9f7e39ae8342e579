/**
 * Names of collections, fields and indexes. Every identifier reaches SQL quoted by Kysely, so a
 * name can never inject SQL; these rules keep names portable across dialects (PostgreSQL folds
 * and truncates identifiers at 63 bytes), unambiguous in the filter language (`true`, `null`,
 * `in`, `is` are its words), and clear of Groundwork's own tables (`_gw_*`) and system fields.
 */
export const NAME_PATTERN = /^[a-z][a-z0-9_]*$/;
export const NAME_MAX_LENGTH = 48;

/** Words of the filter language and SQL words that would make a name confusing to read. */
const RESERVED = new Set([
  'true',
  'false',
  'null',
  'in',
  'is',
  'not',
  'and',
  'or',
  'select',
  'from',
  'where',
  'table',
  'order',
  'group',
  'by',
  'limit',
  'offset',
  'user',
  'all',
  'any',
  'as',
  'on',
  'default',
  'check',
  'primary',
  'references',
]);

/** Fields every collection has; a definition may not declare them. */
export const SYSTEM_FIELDS = ['id', 'created', 'updated'] as const;
export type SystemField = (typeof SYSTEM_FIELDS)[number];

/** Returns why `name` is not a valid collection/field/index name, or undefined when it is. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name.length > NAME_MAX_LENGTH) return `must be at most ${NAME_MAX_LENGTH} characters`;
  if (!NAME_PATTERN.test(name)) return 'must start with a lowercase letter and contain only a-z, 0-9 and _';
  if (RESERVED.has(name)) return `"${name}" is a reserved word`;
  return undefined;
}
