import type { CollectionDef, FieldDef } from './collection.js';
import type { DefinitionIssue } from './definition-checks.js';

/**
 * Auth collections (`type: "auth"`): a normal collection whose records are users who can sign in
 * (src/auth/users). It always has two system-managed fields, `email` (unique, stored lower-case)
 * and `verified`, which only admins may write through the records API; users change them through
 * the auth routes. Passwords are never a field: they live in `_gw_auth_credentials`, out of reach
 * of every records route, filter and expand.
 */
export const AUTH_FIELDS: readonly FieldDef[] = [
  { name: 'email', type: 'email', required: true, unique: true, max: 254 },
  { name: 'verified', type: 'boolean', required: false, unique: false, default: false },
];

const AUTH_FIELD_NAMES = new Set(AUTH_FIELDS.map((f) => f.name));

export function isAuthCollection(def: Pick<CollectionDef, 'type'>): boolean {
  return def.type === 'auth';
}

/** True for `email`/`verified` of an auth collection: admins only through the records API. */
export function isAuthField(def: Pick<CollectionDef, 'type'>, field: string): boolean {
  return def.type === 'auth' && AUTH_FIELD_NAMES.has(field);
}

/**
 * The fields of a new auth collection: the auth fields first, then the declared ones. Declaring
 * `email` or `verified` yourself is refused, since their shape is fixed.
 */
export function withAuthFields(fields: readonly FieldDef[]): {
  fields: FieldDef[];
  issues: DefinitionIssue[];
} {
  const issues: DefinitionIssue[] = [];
  for (const [i, field] of fields.entries()) {
    if (AUTH_FIELD_NAMES.has(field.name))
      issues.push({
        path: `fields.${i}.name`,
        code: 'reserved',
        message: `"${field.name}" is a field every auth collection has; do not declare it`,
      });
  }
  return { fields: [...AUTH_FIELDS, ...fields], issues };
}

/** Email addresses are compared and stored lower-cased and trimmed. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
