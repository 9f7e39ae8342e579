/**
 * What may go into the cache, checked once in `Cache` so drivers can assume it: keys and tags
 * (bounded strings), values (JSON data, bounded size), durations (integer ms). Values are copied
 * through JSON and deeply frozen, so every driver returns the same shapes (a `Date` comes back as a
 * string from memory as from Redis) and no caller can change a cached value under another.
 */
import { GroundworkError } from '../core/errors.js';

/** A longest tag, in characters. Tags are short names (`collection:posts`, `record:posts:42`). */
export const MAX_TAG_LENGTH = 256;
/** Most tags on one entry. */
export const MAX_TAGS = 32;

export function checkKey(key: string, maxKeyLength: number): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > maxKeyLength) {
    throw new GroundworkError('CACHE_ERR_INVALID_KEY', {
      detail: `A cache key must be a string of 1 to ${maxKeyLength} characters, got ${describe(key)}.`,
    });
  }
}

export function checkTag(tag: string): void {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_LENGTH || /[\r\n]/.test(tag)) {
    throw new GroundworkError('CACHE_ERR_INVALID_KEY', {
      detail: `A cache tag must be 1 to ${MAX_TAG_LENGTH} characters without line breaks, got ${describe(tag)}.`,
    });
  }
}

/** Validated tags without duplicates (the order kept). */
export function checkTags(tags: readonly string[] | undefined): readonly string[] {
  if (tags === undefined || tags.length === 0) return NO_TAGS;
  if (tags.length > MAX_TAGS) {
    throw new GroundworkError('CACHE_ERR_INVALID_KEY', {
      detail: `At most ${MAX_TAGS} tags per cache entry, got ${tags.length}.`,
    });
  }
  for (const tag of tags) checkTag(tag);
  return tags.length === 1 ? [tags[0]!] : [...new Set(tags)];
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/** A duration option: an integer number of ms, > 0 (or ≥ 0 when `zeroAllowed`). */
export function checkDuration(name: string, value: number, zeroAllowed: boolean): void {
  if (!Number.isSafeInteger(value) || value < (zeroAllowed ? 0 : 1)) {
    throw new GroundworkError('CACHE_ERR_INVALID_OPTIONS', {
      detail: `${name} must be an integer number of ms ${zeroAllowed ? '≥ 0' : '≥ 1'}, got ${describe(value)}.`,
    });
  }
}

/**
 * Serialises `value` and returns its JSON and a deeply frozen copy. Throws
 * `CACHE_ERR_INVALID_VALUE` when it is not JSON data (`undefined` at the top, a function, a
 * BigInt, a cycle).
 */
export function encodeValue(value: unknown): { json: string; copy: unknown } {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (cause) {
    throw new GroundworkError('CACHE_ERR_INVALID_VALUE', {
      detail: 'A cache value must be JSON data.',
      cause,
    });
  }
  if (json === undefined) {
    throw new GroundworkError('CACHE_ERR_INVALID_VALUE', {
      detail: `A cache value must be JSON data, got ${typeof value}.`,
    });
  }
  return { json, copy: decodeValue(json) };
}

/** Parses stored JSON into a deeply frozen value. */
export function decodeValue(json: string): unknown {
  return deepFreeze(JSON.parse(json));
}

/** Freezes a JSON value and everything in it (JSON data has no cycles and no shared parts). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.freeze(value);
    if (Array.isArray(value)) {
      for (const item of value) deepFreeze(item);
    } else {
      for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
    }
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  return typeof value === 'number' ? String(value) : typeof value;
}
