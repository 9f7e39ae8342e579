import { GroundworkError } from '../../core/errors.js';
import type { CollectionDef } from '../collections/collection.js';

/**
 * The query parameters of record reads, validated: `fields`, `expand` (both endpoints), and for
 * lists `filter`, `sort`, `limit`, `cursor`, `offset`, `total`. Unknown or repeated parameters
 * are refused rather than ignored, so a typo never silently returns everything.
 */
export interface ExpandTree {
  readonly children: Map<string, ExpandTree>;
}

export interface ReadOptions {
  /** Top-level fields to return (undefined = all). */
  fields: ReadonlySet<string> | undefined;
  /** Per expand path (`author`, `author.org`): the fields to return of the expanded records. */
  expandFields: ReadonlyMap<string, ReadonlySet<string>>;
  expand: ExpandTree;
}

export interface ListOptions extends ReadOptions {
  filter: string | undefined;
  sort: string | undefined;
  limit: number;
  cursor: string | undefined;
  offset: number | undefined;
  total: boolean;
}

export interface ReadLimits {
  maxPageSize: number;
  defaultPageSize: number;
  maxExpandDepth: number;
}

const VIEW_PARAMS = new Set(['fields', 'expand']);
const LIST_PARAMS = new Set(['fields', 'expand', 'filter', 'sort', 'limit', 'cursor', 'offset', 'total']);
export const MAX_OFFSET = 100_000;

function invalid(detail: string): GroundworkError {
  return new GroundworkError('DATA_ERR_QUERY_INVALID', { detail });
}

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`"${name}" may be given once.`);
  return value;
}

function integer(text: string, name: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(text)) throw invalid(`"${name}" must be an integer from ${min} to ${max}.`);
  const n = Number(text);
  if (n < min || n > max) throw invalid(`"${name}" must be an integer from ${min} to ${max}.`);
  return n;
}

function checkParams(query: Record<string, unknown>, allowed: ReadonlySet<string>): void {
  for (const name of Object.keys(query)) {
    if (!allowed.has(name)) throw invalid(`Unknown query parameter "${name.slice(0, 40)}".`);
  }
}

export function parseReadOptions(
  query: Record<string, unknown>,
  def: CollectionDef,
  resolve: (name: string) => CollectionDef | undefined,
  limits: ReadLimits,
): ReadOptions {
  checkParams(query, VIEW_PARAMS);
  return parseShape(query, def, resolve, limits);
}

export function parseListOptions(
  query: Record<string, unknown>,
  def: CollectionDef,
  resolve: (name: string) => CollectionDef | undefined,
  limits: ReadLimits,
): ListOptions {
  checkParams(query, LIST_PARAMS);
  const limitText = single(query, 'limit');
  const offsetText = single(query, 'offset');
  const cursor = single(query, 'cursor');
  const totalText = single(query, 'total');
  if (cursor !== undefined && offsetText !== undefined) throw invalid('Give "cursor" or "offset", not both.');
  if (totalText !== undefined && totalText !== 'true' && totalText !== 'false')
    throw invalid('"total" must be true or false.');
  return {
    ...parseShape(query, def, resolve, limits),
    filter: single(query, 'filter'),
    sort: single(query, 'sort'),
    limit:
      limitText === undefined ? limits.defaultPageSize : integer(limitText, 'limit', 1, limits.maxPageSize),
    cursor,
    offset: offsetText === undefined ? undefined : integer(offsetText, 'offset', 0, MAX_OFFSET),
    total: totalText === 'true',
  };
}

function parseShape(
  query: Record<string, unknown>,
  def: CollectionDef,
  resolve: (name: string) => CollectionDef | undefined,
  limits: ReadLimits,
): ReadOptions {
  const expand: ExpandTree = { children: new Map() };
  const expandText = single(query, 'expand');
  const targets = new Map<string, CollectionDef>([['', def]]);
  if (expandText !== undefined && expandText !== '') {
    const paths = expandText.split(',').map((p) => p.trim());
    if (paths.length > 16) throw invalid('"expand" lists more than 16 paths.');
    for (const path of paths) {
      const parts = path.split('.');
      if (parts.length > limits.maxExpandDepth)
        throw invalid(`"expand" path "${path.slice(0, 64)}" is deeper than ${limits.maxExpandDepth}.`);
      let node = expand;
      let current = def;
      let prefix = '';
      for (const part of parts) {
        const field = current.fields.find((f) => f.name === part);
        if (field?.type !== 'relation')
          throw invalid(`"expand": "${part.slice(0, 48)}" is not a relation field of "${current.name}".`);
        const target = resolve(field.collection);
        if (!target) throw invalid(`"expand": the target of "${part}" no longer exists.`);
        prefix = prefix === '' ? part : `${prefix}.${part}`;
        targets.set(prefix, target);
        let child = node.children.get(part);
        if (!child) {
          child = { children: new Map() };
          node.children.set(part, child);
        }
        node = child;
        current = target;
      }
    }
  }

  const fieldsText = single(query, 'fields');
  let fields: Set<string> | undefined;
  const expandFields = new Map<string, Set<string>>();
  if (fieldsText !== undefined && fieldsText !== '') {
    const names = fieldsText.split(',').map((p) => p.trim());
    if (names.length > 200) throw invalid('"fields" lists more than 200 names.');
    for (const name of names) {
      if (name.startsWith('expand.')) {
        const path = name.slice('expand.'.length).split('.');
        const fieldName = path.pop() ?? '';
        const key = path.join('.');
        const target = targets.get(key);
        if (key === '' || !target)
          throw invalid(`"fields": "${name.slice(0, 64)}" is not under an expanded relation.`);
        if (!known(target, fieldName))
          throw invalid(`"fields": "${target.name}" has no field "${fieldName.slice(0, 48)}".`);
        const set = expandFields.get(key) ?? new Set<string>();
        set.add(fieldName);
        expandFields.set(key, set);
      } else {
        if (!known(def, name)) throw invalid(`"fields": no field "${name.slice(0, 48)}".`);
        fields ??= new Set();
        fields.add(name);
      }
    }
  }
  return { fields, expandFields, expand };
}

function known(def: CollectionDef, name: string): boolean {
  return name === 'id' || name === 'created' || name === 'updated' || def.fields.some((f) => f.name === name);
}
