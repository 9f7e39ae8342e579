import type { CompareOp } from './filter-ast.js';
import { queryError, quote } from './query-errors.js';

/** Words of the filter language; field names never take these (see `collections/names.ts`). */
export type Keyword = 'true' | 'false' | 'null' | 'in' | 'not' | 'is';
const KEYWORDS: ReadonlySet<string> = new Set<Keyword>(['true', 'false', 'null', 'in', 'not', 'is']);

export type Token = { readonly at: number } & (
  | { readonly type: 'path'; readonly segments: readonly string[] }
  | { readonly type: 'keyword'; readonly value: Keyword }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'auth'; readonly name: string }
  | { readonly type: 'now' }
  | { readonly type: 'op'; readonly value: CompareOp }
  | { readonly type: '&&' | '||' | '(' | ')' | ',' | 'end' }
);

const NAME_START = /[A-Za-z_]/;
const DIGIT = /[0-9]/;
const NUMBER = /[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
const SEGMENT = /[A-Za-z0-9_]+/y;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  '/': '/',
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
};

/**
 * Splits filter text into tokens. Throws DATA_ERR_FILTER_SYNTAX for a character that starts no
 * token, and DATA_ERR_FILTER_VALUE for a literal no field could hold (a number that overflows to
 * infinity, a string with U+0000 or an unpaired surrogate, which PostgreSQL text cannot store).
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const syntax = (message: string, pos: number) => queryError('DATA_ERR_FILTER_SYNTAX', message, pos + 1);
  while (i < text.length) {
    const ch = text[i] as string;
    const at = i + 1;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
    } else if (NAME_START.test(ch)) {
      const segments: string[] = [];
      SEGMENT.lastIndex = i;
      let match = SEGMENT.exec(text);
      while (match) {
        segments.push(match[0]);
        i = SEGMENT.lastIndex;
        if (text[i] !== '.') break;
        SEGMENT.lastIndex = i + 1;
        match = SEGMENT.exec(text);
        if (!match) throw syntax(`Expected a name after "." in ${quote(text.slice(at - 1, i + 1))}`, i + 1);
      }
      const [first] = segments;
      if (segments.length === 1 && first !== undefined && KEYWORDS.has(first))
        tokens.push({ type: 'keyword', value: first as Keyword, at });
      else tokens.push({ type: 'path', segments, at });
    } else if (
      DIGIT.test(ch) ||
      (ch === '.' && DIGIT.test(text[i + 1] ?? '')) ||
      ((ch === '-' || ch === '+') && /[0-9.]/.test(text[i + 1] ?? ''))
    ) {
      NUMBER.lastIndex = i;
      const raw = NUMBER.exec(text)?.[0];
      if (raw === undefined) throw syntax(`Expected a number at ${quote(text.slice(i, i + 20))}`, i);
      i += raw.length;
      if (/[A-Za-z0-9_.]/.test(text[i] ?? ''))
        throw syntax(`Malformed number ${quote(text.slice(at - 1, i + 1))}`, at - 1);
      const value = Number(raw);
      if (!Number.isFinite(value))
        throw queryError('DATA_ERR_FILTER_VALUE', `Number ${quote(raw)} is out of range`, at);
      tokens.push({ type: 'number', value, at });
    } else if (ch === '"' || ch === "'") {
      const [value, end] = readString(text, i, syntax);
      if (value.includes('\0') || LONE_SURROGATE.test(value))
        throw queryError(
          'DATA_ERR_FILTER_VALUE',
          'Strings may not contain U+0000 or unpaired surrogate code units',
          at,
        );
      tokens.push({ type: 'string', value, at });
      i = end;
    } else if (ch === '@') {
      const special = /@now(?![A-Za-z0-9_.])|@auth\.([A-Za-z0-9_]+)(?![A-Za-z0-9_.])/y;
      special.lastIndex = i;
      const match = special.exec(text);
      if (!match) throw syntax(`Expected @now or @auth.<name> at ${quote(text.slice(i, i + 20))}`, i);
      tokens.push(match[1] === undefined ? { type: 'now', at } : { type: 'auth', name: match[1], at });
      i = special.lastIndex;
    } else {
      const two = text.slice(i, i + 2);
      if (two === '&&' || two === '||') {
        tokens.push({ type: two, at });
        i += 2;
      } else if (two === '!=' || two === '!~' || two === '>=' || two === '<=') {
        tokens.push({ type: 'op', value: two, at });
        i += 2;
      } else if (ch === '=' || ch === '>' || ch === '<' || ch === '~') {
        tokens.push({ type: 'op', value: ch, at });
        i += 1;
      } else if (ch === '(' || ch === ')' || ch === ',') {
        tokens.push({ type: ch, at });
        i += 1;
      } else {
        throw syntax(`Unexpected character ${quote(String.fromCodePoint(text.codePointAt(i) ?? 0))}`, i);
      }
    }
  }
  tokens.push({ type: 'end', at: text.length + 1 });
  return tokens;
}

function readString(
  text: string,
  start: number,
  syntax: (message: string, pos: number) => Error,
): [string, number] {
  const quoteChar = text[start];
  let out = '';
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === quoteChar) return [out, i + 1];
    if (ch !== '\\') {
      out += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === 'u') {
      const hex = text.slice(i + 2, i + 6);
      if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw syntax('Expected four hex digits after \\u', i);
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 6;
    } else if (next !== undefined && Object.hasOwn(ESCAPES, next)) {
      out += ESCAPES[next];
      i += 2;
    } else {
      throw syntax(`Unknown escape ${quote(`\\${next ?? ''}`)} in string`, i);
    }
  }
  throw syntax('Unterminated string: expected a closing quote', start);
}
