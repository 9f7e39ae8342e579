import { describe, expect, it } from 'vitest';
import type { Principal } from '../../gateway/principal.js';
import type { CollectionDef, FieldDef, Rules } from '../collections/collection.js';
import type { ExpandTree } from '../records/read-options.js';
import { planRead } from './read-plan.js';

const OPEN: Rules = { list: '', view: '', create: null, update: null, delete: null };

function collection(name: string, fields: FieldDef[], rules: Partial<Rules> = {}): CollectionDef {
  return { name, type: 'base', fields, indexes: [], rules: { ...OPEN, ...rules }, created: '', updated: '' };
}

const relation = (name: string, target: string): FieldDef => ({
  name,
  type: 'relation',
  collection: target,
  multiple: false,
  required: false,
  unique: false,
  onDelete: 'restrict',
});
const text = (name: string): FieldDef => ({ name, type: 'text', required: false, unique: false });

const orgs = collection('orgs', [text('name')], { view: 'name != "" && @now > "2000-01-01T00:00:00Z"' });
const users = collection('users', [text('nick'), relation('org', 'orgs')], { view: 'id = @auth.id' });
const tags = collection('tags', [text('label')]);
const posts = collection('posts', [text('title'), relation('author', 'users'), relation('tag', 'tags')], {
  list: 'tag.label != "secret"',
  view: null,
});
const all = new Map([orgs, users, tags, posts].map((def) => [def.name, def]));
const resolve = (name: string) => all.get(name);

const anonymous: Principal = { kind: 'anonymous' };
const admin: Principal = { kind: 'admin', id: 'a' };

function tree(...paths: string[]): ExpandTree {
  const root: ExpandTree = { children: new Map() };
  for (const path of paths) {
    let node = root;
    for (const part of path.split('.')) {
      let child = node.children.get(part);
      if (!child) {
        child = { children: new Map() };
        node.children.set(part, child);
      }
      node = child;
    }
  }
  return root;
}

describe('planRead', () => {
  it('a public read of one collection depends on it alone and on no caller', () => {
    expect(planRead(tags, 'list', { expand: tree() }, anonymous, resolve)).toEqual({
      collections: ['tags'],
      perCaller: false,
      timeDependent: false,
      protected: false,
      cacheable: true,
    });
  });

  it('follows relation paths in the rule; an admin-only rule protects without depending on the caller', () => {
    const list = planRead(posts, 'list', { expand: tree() }, anonymous, resolve);
    expect(list.collections).toEqual(['posts', 'tags']);
    expect(list).toMatchObject({ perCaller: false, protected: true });
    expect(planRead(posts, 'view', { expand: tree() }, anonymous, resolve)).toMatchObject({
      collections: ['posts'],
      perCaller: false,
      protected: true,
    });
  });

  it('a caller filter reading @auth, or a relation whose view rule does, makes the read per caller', () => {
    expect(
      planRead(tags, 'list', { filter: 'label = @auth.id', expand: tree() }, anonymous, resolve).perCaller,
    ).toBe(true);
    const through = planRead(
      posts,
      'list',
      { filter: 'author.nick = "x"', expand: tree() },
      anonymous,
      resolve,
    );
    expect(through).toMatchObject({ collections: ['posts', 'tags', 'users'], perCaller: true });
  });

  it('expand adds every expanded collection and their view rules, level by level', () => {
    const plan = planRead(posts, 'list', { expand: tree('author.org', 'tag') }, anonymous, resolve);
    expect(plan.collections).toEqual(['posts', 'orgs', 'tags', 'users']);
    expect(plan).toMatchObject({ perCaller: true, timeDependent: true, protected: true });
  });

  it('admins bypass rules: only what they filter on and expand counts', () => {
    const plan = planRead(posts, 'list', { expand: tree('author') }, admin, resolve);
    expect(plan).toMatchObject({ collections: ['posts', 'users'], perCaller: false, timeDependent: false });
    expect(
      planRead(posts, 'list', { filter: 'author = @auth.id', expand: tree() }, admin, resolve).perCaller,
    ).toBe(true);
  });

  it('a filter that does not parse is not cacheable (the read reports the error itself)', () => {
    expect(
      planRead(tags, 'list', { filter: 'label = (', expand: tree() }, anonymous, resolve).cacheable,
    ).toBe(false);
  });
});
