import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { AnyDb, DialectName } from '../../db/database.js';
import { type RuleScope, ruleFor } from '../access/rules.js';
import type { CollectionDef } from '../collections/collection.js';
import type { ExpandTree } from './read-options.js';
import { type ApiRecord, rowToRecord } from './record-rows.js';

/**
 * `expand`: replaces nothing, adds `expand: { <relation>: record | record[] }` to each record.
 * Batched: one query per expanded path whatever the number of records — the ids travel as ONE
 * JSON-array parameter (`id IN (SELECT value FROM json_each(?))` / `jsonb_array_elements_text`),
 * so there is no per-record query and no parameter-count limit. The target's view rule applies:
 * a related record the caller may not view is left out, as if it did not exist.
 */
export async function expandRecords(
  db: Kysely<AnyDb>,
  def: CollectionDef,
  records: ApiRecord[],
  tree: ExpandTree,
  scope: RuleScope,
  expandFields: ReadonlyMap<string, ReadonlySet<string>>,
  prefix = '',
): Promise<void> {
  for (const [fieldName, subtree] of tree.children) {
    const field = def.fields.find((f) => f.name === fieldName);
    if (field?.type !== 'relation') continue;
    const target = scope.resolve(field.collection);
    if (!target) continue;
    const ids = new Set<string>();
    for (const record of records) {
      const value = record[fieldName];
      if (typeof value === 'string') ids.add(value);
      else if (Array.isArray(value)) for (const id of value) if (typeof id === 'string') ids.add(id);
    }
    const path = prefix === '' ? fieldName : `${prefix}.${fieldName}`;
    let related = new Map<string, ApiRecord>();
    if (ids.size > 0) {
      const rule = safeRule(target, scope);
      if (rule !== 'none') {
        let query = db
          .selectFrom(target.name)
          .selectAll(target.name)
          .where(sql<SqlBool>`${sql.ref(`${target.name}.id`)} in (${idsParameter([...ids], scope.dialect)})`);
        if (rule !== 'all') query = query.where(rule);
        const rows = await query.execute();
        related = new Map(
          rows.map((row) => {
            const { record } = rowToRecord(target, row, scope.dialect);
            return [record.id, record];
          }),
        );
        if (subtree.children.size > 0)
          await expandRecords(db, target, [...related.values()], subtree, scope, expandFields, path);
      }
    }
    const fields = expandFields.get(path);
    const project = (record: ApiRecord | undefined) => {
      if (!record || !fields) return record;
      const out: Record<string, unknown> = {};
      for (const name of fields) out[name] = record[name];
      if (record.expand !== undefined) out.expand = record.expand;
      return out;
    };
    for (const record of records) {
      const value = record[fieldName];
      if (record.expand === undefined) record.expand = {};
      const expanded = record.expand as Record<string, unknown>;
      if (typeof value === 'string') {
        const hit = project(related.get(value));
        if (hit) expanded[fieldName] = hit;
      } else if (Array.isArray(value)) {
        expanded[fieldName] = value.flatMap((id) => {
          const hit = project(related.get(String(id)));
          return hit ? [hit] : [];
        });
      }
    }
  }
}

function safeRule(target: CollectionDef, scope: RuleScope): 'all' | 'none' | Expression<SqlBool> {
  try {
    const rule = ruleFor(target, 'view', scope);
    return rule.kind === 'all' ? 'all' : rule.condition;
  } catch {
    return 'none'; // admin-only target: non-admins see no expansion
  }
}

/** A list of ids as a single bound parameter, usable as `col IN (…)`. */
export function idsParameter(ids: readonly string[], dialect: DialectName) {
  const json = JSON.stringify(ids);
  return dialect === 'postgres'
    ? sql`select jsonb_array_elements_text(${json}::jsonb)`
    : sql`select value from json_each(${json})`;
}
