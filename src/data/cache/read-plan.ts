/**
 * What a record read's result depends on, found from the definitions alone (no query runs): the
 * collections whose records can change it, whether it differs per caller (`@auth.*`), whether it
 * changes with time (`@now`), and whether rule-protected data is in it. `RecordCache` keys and
 * invalidates cached reads by it; the HTTP layer picks `Cache-Control` by it.
 *
 * The rules and filters involved are exactly those `RecordReader` compiles for the read:
 * - the collection's `list` (lists) or `view` (by id) rule;
 * - a caller's `?filter=`, and for each relation path in it (`author.name`) the target's `view`
 *   rule (the guard `compileCallerFilter` joins in);
 * - for each `expand` path, the target's `view` rule, level by level;
 * - relation paths inside any of those rules (`author.active = true` reads `authors`).
 * Admins bypass rules, so for them only the filter and the expanded collections count.
 */
import type { Principal } from '../../gateway/principal.js';
import type { CollectionDef } from '../collections/collection.js';
import type { FilterNode, Operand } from '../query/filter-ast.js';
import { parseFilter } from '../query/filter-parser.js';
import type { ExpandTree } from '../records/read-options.js';

export interface ReadPlan {
  /** Collections whose changes can change the result, the read one first, then sorted. */
  readonly collections: readonly string[];
  /** A rule or filter involved reads `@auth.*`: results are per caller (keyed on all auth values). */
  readonly perCaller: boolean;
  /** A rule or filter involved reads `@now`: the result changes with time alone (never cached). */
  readonly timeDependent: boolean;
  /** A rule involved is not `""`: rule-protected data (HTTP default `no-store`). */
  readonly protected: boolean;
  /** False when the filter does not parse: the read goes uncached and reports the error itself. */
  readonly cacheable: boolean;
}

/** Facts of one filter or rule over one collection. */
interface Facts {
  readonly auth: boolean;
  readonly now: boolean;
  /** Target collections of the relation paths it reads. */
  readonly relations: readonly string[];
}

/** Facts of parsed rules, per definition object (a changed collection is a new object). */
const ruleFacts = new WeakMap<CollectionDef, Map<string, Facts | null>>();

export function planRead(
  def: CollectionDef,
  operation: 'list' | 'view',
  input: { filter?: string | undefined; expand: ExpandTree },
  principal: Principal,
  resolve: (name: string) => CollectionDef | undefined,
): ReadPlan {
  const admin = principal.kind === 'admin';
  const collections = new Set<string>();
  let perCaller = false;
  let timeDependent = false;
  let isProtected = false;
  let cacheable = true;
  const merge = (facts: Facts | null): void => {
    if (facts === null) {
      cacheable = false;
      return;
    }
    perCaller ||= facts.auth;
    timeDependent ||= facts.now;
    for (const name of facts.relations) collections.add(name);
  };
  const rule = (target: CollectionDef, text: string | null): void => {
    if (text !== null && text.trim() === '') return;
    isProtected = true;
    // Admin-only (null): non-admins get an error (never cached) or nothing; admins bypass rules.
    if (text === null || admin) return;
    merge(factsOfRule(target, text));
  };
  const expand = (source: CollectionDef, tree: ExpandTree): void => {
    for (const [fieldName, subtree] of tree.children) {
      const field = source.fields.find((f) => f.name === fieldName);
      if (field?.type !== 'relation') continue;
      collections.add(field.collection);
      const target = resolve(field.collection);
      if (target === undefined) continue;
      rule(target, target.rules.view);
      expand(target, subtree);
    }
  };

  rule(def, operation === 'list' ? def.rules.list : def.rules.view);
  if (input.filter !== undefined && input.filter.trim() !== '') {
    let node: FilterNode | undefined;
    try {
      node = parseFilter(input.filter);
    } catch {
      cacheable = false;
    }
    if (node !== undefined) {
      const facts = factsOf(def, node);
      merge(facts);
      for (const name of facts.relations) {
        const target = resolve(name);
        if (target !== undefined) rule(target, target.rules.view);
      }
    }
  }
  expand(def, input.expand);
  collections.delete(def.name);
  return {
    collections: [def.name, ...[...collections].sort()],
    perCaller,
    timeDependent,
    protected: isProtected,
    cacheable,
  };
}

function factsOfRule(def: CollectionDef, text: string): Facts | null {
  let cache = ruleFacts.get(def);
  if (cache === undefined) {
    cache = new Map();
    ruleFacts.set(def, cache);
  }
  let facts = cache.get(text);
  if (facts === undefined) {
    try {
      facts = factsOf(def, parseFilter(text));
    } catch {
      facts = null; // rules are checked when defined; a failure here only means "do not cache"
    }
    cache.set(text, facts);
  }
  return facts;
}

function factsOf(def: CollectionDef, node: FilterNode): Facts {
  let auth = false;
  let now = false;
  const relations = new Set<string>();
  const operand = (op: Operand): void => {
    if (op.kind === 'auth') auth = true;
    else if (op.kind === 'now') now = true;
    else if (op.kind === 'field' && op.path.length > 1) {
      const field = def.fields.find((f) => f.name === op.path[0]);
      if (field?.type === 'relation') relations.add(field.collection);
    }
  };
  const walk = (n: FilterNode): void => {
    switch (n.kind) {
      case 'and':
      case 'or':
        for (const child of n.children) walk(child);
        return;
      case 'compare':
        operand(n.left);
        operand(n.right);
        return;
      case 'in':
        operand(n.operand);
        for (const value of n.values) operand(value);
        return;
      case 'null':
        operand(n.operand);
        return;
    }
  };
  walk(node);
  return { auth, now, relations: [...relations] };
}
