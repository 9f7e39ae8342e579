import type { z } from 'zod';
import { GroundworkError } from '../../core/errors.js';
import { checkFieldValue } from '../records/record-validation.js';
import {
  type CollectionDef,
  defaultIndexName,
  fieldsByName,
  type IndexDef,
  type indexSchema,
  RULE_NAMES,
  type Rules,
  storageOf,
} from './collection.js';
import { implicitIndexes } from './ddl.js';

/** One problem in a collection definition or change, with where it is (`fields.2.name`). */
export interface DefinitionIssue {
  path: string;
  code: string;
  message: string;
}

/** Checks that a rule compiles against a collection; throws a GroundworkError when it does not. */
export type RuleChecker = (
  rule: string,
  collection: CollectionDef,
  resolve: (name: string) => CollectionDef | undefined,
) => void;

export function invalidDefinition(issues: readonly DefinitionIssue[]): GroundworkError {
  const first = issues[0];
  return new GroundworkError('DATA_ERR_COLLECTION_INVALID', {
    detail:
      issues.length === 1 && first
        ? `${first.path || 'definition'}: ${first.message}`
        : `${issues.length} problems in the collection definition; see errors.`,
    extensions: { errors: issues },
  });
}

export function zodIssues(error: z.ZodError): DefinitionIssue[] {
  return error.issues.slice(0, 50).map((issue) => ({
    path: issue.path.join('.'),
    code: issue.code,
    message: issue.message,
  }));
}

export function normalizeIndex(collection: string, index: z.infer<typeof indexSchema>): IndexDef {
  return { ...index, name: index.name ?? defaultIndexName(collection, index.fields, index.unique) };
}

/**
 * Semantic checks of a complete definition against the others: duplicate fields, index fields,
 * index names unique in the whole database (tables and indexes share one namespace in
 * PostgreSQL), relation targets, defaults, min/max, and rules that compile.
 */
export function checkDefinition(
  def: CollectionDef,
  others: readonly CollectionDef[],
  checkRule: RuleChecker | undefined,
): DefinitionIssue[] {
  const issues: DefinitionIssue[] = [];
  const seen = new Set<string>();
  def.fields.forEach((field, i) => {
    if (seen.has(field.name))
      issues.push({
        path: `fields.${i}.name`,
        code: 'duplicate',
        message: `field "${field.name}" is declared twice`,
      });
    seen.add(field.name);
    if (
      'min' in field &&
      'max' in field &&
      field.min !== undefined &&
      field.max !== undefined &&
      field.min > field.max
    )
      issues.push({ path: `fields.${i}.min`, code: 'range', message: 'min must not exceed max' });
    if (field.type === 'relation') {
      const target = field.collection === def.name ? def : others.find((c) => c.name === field.collection);
      if (!target)
        issues.push({
          path: `fields.${i}.collection`,
          code: 'unknown_collection',
          message: `no collection "${field.collection}"`,
        });
      if (!field.multiple && field.maxSelect !== undefined)
        issues.push({
          path: `fields.${i}.maxSelect`,
          code: 'invalid',
          message: 'maxSelect needs multiple: true',
        });
      if (field.onDelete === 'set null' && field.required)
        issues.push({
          path: `fields.${i}.onDelete`,
          code: 'invalid',
          message: '"set null" cannot apply to a required field',
        });
    }
    if (field.type === 'select' && !field.multiple && field.maxSelect !== undefined)
      issues.push({
        path: `fields.${i}.maxSelect`,
        code: 'invalid',
        message: 'maxSelect needs multiple: true',
      });
    if ('default' in field && field.default !== undefined) {
      const checked = checkFieldValue(field, field.default);
      if ('issue' in checked)
        issues.push({
          path: `fields.${i}.default`,
          code: checked.issue.code,
          message: checked.issue.message,
        });
    }
    if (field.unique && storageOf(field) === 'json')
      issues.push({
        path: `fields.${i}.unique`,
        code: 'invalid',
        message: 'json and multi-valued fields cannot be unique',
      });
  });

  const fields = fieldsByName(def);
  const names = new Set<string>();
  for (const other of others) {
    names.add(other.name);
    for (const index of allIndexes(other)) names.add(index.name);
  }
  if (names.has(def.name))
    issues.push({
      path: 'name',
      code: 'name_taken',
      message: `"${def.name}" is already used by a collection or index`,
    });
  names.add(def.name);
  for (const field of def.fields) for (const index of implicitIndexes(def.name, field)) names.add(index.name);
  def.indexes.forEach((index, i) => {
    if (names.has(index.name))
      issues.push({
        path: `indexes.${i}.name`,
        code: 'name_taken',
        message: `"${index.name}" is already used`,
      });
    names.add(index.name);
    if (new Set(index.fields).size !== index.fields.length)
      issues.push({
        path: `indexes.${i}.fields`,
        code: 'duplicate',
        message: 'an index lists a field twice',
      });
    index.fields.forEach((name, j) => {
      if (!fields.has(name))
        issues.push({
          path: `indexes.${i}.fields.${j}`,
          code: 'unknown_field',
          message: `no field "${name.slice(0, 64)}"`,
        });
    });
  });

  if (checkRule && issues.length === 0) {
    const resolve = (name: string) => (name === def.name ? def : others.find((c) => c.name === name));
    for (const rule of RULE_NAMES) {
      const text = def.rules[rule];
      if (text === null || text === '') continue;
      try {
        checkRule(text, def, resolve);
      } catch (error) {
        if (!(error instanceof GroundworkError)) throw error;
        issues.push({ path: `rules.${rule}`, code: error.code, message: error.detail ?? error.title });
      }
    }
  }
  return issues;
}

/** Declared and implicit indexes of a collection. */
export function allIndexes(def: CollectionDef): IndexDef[] {
  return [...def.fields.flatMap((f) => implicitIndexes(def.name, f)), ...def.indexes];
}

export function mergeRules(current: Rules, patch: Partial<Rules> | undefined): Rules {
  return { ...current, ...patch };
}
