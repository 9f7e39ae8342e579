import type { FieldDef } from '../collections/collection.js';
import { normalizeDatetime } from '../collections/field-values.js';
import { RECORD_ID_PATTERN } from './record-id.js';

/**
 * Validation of record values against a collection's fields. Every invalid field is reported
 * (not just the first), each with a stable `code`, so a client can mark all of them at once.
 */
export interface FieldIssue {
  field: string;
  code: string;
  message: string;
}

/** The `email` format of JSON Schema as Ajv checks it (ASCII local part and host name). */
const EMAIL =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
/** Characters RFC 3986 allows in a URI; anything else (spaces, raw non-ASCII) must be percent-encoded. */
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Checks one present value (not undefined) of `field`; returns the normalized value (datetimes in
 * the stored form) or an issue. `null` is allowed here; `required` is checked by the caller.
 */
export function checkFieldValue(field: FieldDef, value: unknown): { value: unknown } | { issue: FieldIssue } {
  const fail = (code: string, message: string) => ({ issue: { field: field.name, code, message } });
  if (value === null) return { value: null };
  switch (field.type) {
    case 'text':
    case 'email':
    case 'url': {
      if (typeof value !== 'string') return fail('type', 'must be a string');
      const length = codePoints(value);
      if (field.min !== undefined && length < field.min)
        return fail('min', `must be at least ${field.min} characters`);
      if (field.max !== undefined && length > field.max)
        return fail('max', `must be at most ${field.max} characters`);
      if (value.includes('\u0000')) return fail('type', 'must not contain NUL characters');
      if (field.type === 'text' && field.pattern !== undefined && !new RegExp(field.pattern, 'u').test(value))
        return fail('pattern', 'does not match the required pattern');
      if (field.type === 'email' && value !== '') {
        if (value.length > 254 || !EMAIL.test(value)) return fail('email', 'must be an email address');
        const domain = value.slice(value.lastIndexOf('@') + 1).toLowerCase();
        if (field.domains && !field.domains.some((d) => d.toLowerCase() === domain))
          return fail('email_domain', `must be an address at ${field.domains.join(', ')}`);
      }
      if (field.type === 'url' && value !== '') {
        let url: URL | undefined;
        try {
          url = new URL(value);
        } catch {
          url = undefined;
        }
        if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !URI_CHARS.test(value))
          return fail('url', 'must be an http(s) URL (RFC 3986: percent-encode spaces and non-ASCII)');
      }
      return { value };
    }
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value))
        return fail('type', 'must be a finite number');
      if (field.integer && !Number.isSafeInteger(value))
        return fail('type', 'must be an integer between -(2^53-1) and 2^53-1');
      if (field.min !== undefined && value < field.min) return fail('min', `must be at least ${field.min}`);
      if (field.max !== undefined && value > field.max) return fail('max', `must be at most ${field.max}`);
      return { value };
    }
    case 'boolean':
      return typeof value === 'boolean' ? { value } : fail('type', 'must be true or false');
    case 'datetime': {
      const normalized = typeof value === 'string' ? normalizeDatetime(value) : undefined;
      if (normalized === undefined) return fail('type', 'must be an RFC 3339 date-time');
      if (field.min !== undefined && normalized < (normalizeDatetime(field.min) ?? ''))
        return fail('min', `must be at or after ${field.min}`);
      if (field.max !== undefined && normalized > (normalizeDatetime(field.max) ?? ''))
        return fail('max', `must be at or before ${field.max}`);
      return { value: normalized };
    }
    case 'json': {
      const text = JSON.stringify(value);
      if (text === undefined) return fail('type', 'must be a JSON value');
      if (field.maxBytes !== undefined && Buffer.byteLength(text) > field.maxBytes)
        return fail('max', `must be at most ${field.maxBytes} bytes as JSON`);
      return { value };
    }
    case 'select': {
      const allowed = (v: unknown) => typeof v === 'string' && field.values.includes(v);
      if (!field.multiple)
        return allowed(value) ? { value } : fail('select', `must be one of: ${field.values.join(', ')}`);
      if (!Array.isArray(value)) return fail('type', 'must be a list of values');
      if (!value.every(allowed))
        return fail('select', `every value must be one of: ${field.values.join(', ')}`);
      if (new Set(value).size !== value.length) return fail('duplicate', 'must not repeat a value');
      if (field.maxSelect !== undefined && value.length > field.maxSelect)
        return fail('too_many', `must have at most ${field.maxSelect} values`);
      return { value };
    }
    case 'relation': {
      const isId = (v: unknown) => typeof v === 'string' && RECORD_ID_PATTERN.test(v);
      if (!field.multiple) return isId(value) ? { value } : fail('type', 'must be a record id');
      if (!Array.isArray(value) || !value.every(isId)) return fail('type', 'must be a list of record ids');
      if (new Set(value).size !== value.length) return fail('duplicate', 'must not repeat a record id');
      const max = field.maxSelect ?? 1000;
      if (value.length > max) return fail('too_many', `must have at most ${max} records`);
      return { value };
    }
  }
}

function isEmpty(field: FieldDef, value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value === 'string' && (field.type === 'text' || field.type === 'email' || field.type === 'url'))
    return value === '';
  return Array.isArray(value) && value.length === 0 && (field.type === 'select' || field.type === 'relation');
}

export type WriteMode = 'create' | 'replace' | 'patch';

/**
 * Validates a request body for a write. `create`/`replace` fill defaults for absent fields and
 * check `required` on every field; `patch` checks only the fields present (and `required` on
 * those). Returns the normalized values by field name, or every issue found.
 */
export function validateRecordInput(
  fields: readonly FieldDef[],
  body: unknown,
  mode: WriteMode,
): { values: Record<string, unknown>; id?: string } | { issues: FieldIssue[] } {
  if (!isPlainObject(body))
    return { issues: [{ field: '', code: 'type', message: 'the body must be a JSON object' }] };
  const issues: FieldIssue[] = [];
  const byName = new Map(fields.map((f) => [f.name, f]));
  const values: Record<string, unknown> = {};
  let id: string | undefined;
  for (const key of Object.keys(body)) {
    if (key === 'id' && mode === 'create') {
      const given = body.id;
      if (typeof given === 'string' && RECORD_ID_PATTERN.test(given)) id = given;
      else issues.push({ field: 'id', code: 'type', message: 'must be a UUIDv7 in lowercase hex' });
    } else if (key === 'id' || key === 'created' || key === 'updated') {
      // Echoing a record back (GET then PUT) is allowed; the values are the server's to set.
    } else if (!byName.has(key)) {
      issues.push({
        field: key.slice(0, 64),
        code: 'unknown_field',
        message: 'is not a field of this collection',
      });
    }
  }
  for (const field of fields) {
    let value = Object.hasOwn(body, field.name) ? body[field.name] : undefined;
    if (value === undefined) {
      if (mode === 'patch') continue;
      value = 'default' in field && field.default !== undefined ? structuredClone(field.default) : null;
    }
    if (field.required && isEmpty(field, value)) {
      issues.push({ field: field.name, code: 'required', message: 'is required' });
      continue;
    }
    const checked = checkFieldValue(field, value);
    if ('issue' in checked) {
      issues.push(checked.issue);
      continue;
    }
    if (field.required && isEmpty(field, checked.value)) {
      issues.push({ field: field.name, code: 'required', message: 'is required' });
      continue;
    }
    values[field.name] = checked.value;
  }
  if (issues.length > 0) return { issues };
  return id === undefined ? { values } : { values, id };
}
