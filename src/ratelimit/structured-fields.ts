/**
 * The part of RFC 8941 (Structured Field Values for HTTP) the RateLimit fields need: serializers for
 * Strings, Integers and Byte Sequences, and a strict List parser (§4.2.1) so tests can check what we
 * send is well-formed. Section numbers below are RFC 8941's.
 */

export type BareItem =
  | { type: 'integer'; value: number }
  | { type: 'decimal'; value: number }
  | { type: 'string'; value: string }
  | { type: 'token'; value: string }
  | { type: 'byte-sequence'; value: Uint8Array }
  | { type: 'boolean'; value: boolean };

export type Parameters = Map<string, BareItem>;

export interface Item {
  kind: 'item';
  value: BareItem;
  params: Parameters;
}

export interface InnerList {
  kind: 'inner-list';
  items: Item[];
  params: Parameters;
}

export type List = (Item | InnerList)[];

/** §3.3.1: at most 15 digits. */
export const MAX_SF_INTEGER = 999_999_999_999_999;

/** §4.1.4. Throws on a non-integer or out-of-range value: callers clamp first. */
export function serializeInteger(value: number): string {
  if (!Number.isInteger(value) || Math.abs(value) > MAX_SF_INTEGER) {
    throw new RangeError(`not a Structured Fields Integer: ${value}`);
  }
  return String(value);
}

/** §4.1.6. Throws unless every character is printable ASCII (%x20-7E). */
export function serializeString(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value))
    throw new RangeError('Structured Fields Strings are printable ASCII only');
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** §4.1.8: base64 with padding between colons. */
export function serializeByteSequence(value: Uint8Array): string {
  return `:${Buffer.from(value).toString('base64')}:`;
}

class ParseError extends SyntaxError {
  constructor(message: string, input: string, at: number) {
    super(`${message} at ${at} in ${JSON.stringify(input)}`);
  }
}

/** §4.2: parses a List field value strictly; throws SyntaxError on anything malformed. */
export function parseList(input: string): List {
  const p = new Parser(input.replace(/^ +| +$/g, ''));
  const list: List = [];
  while (!p.done()) {
    list.push(p.peek() === '(' ? p.innerList() : p.item());
    p.skipOws();
    if (p.done()) return list;
    p.expect(',');
    p.skipOws();
    if (p.done()) p.fail('trailing comma');
  }
  return list;
}

class Parser {
  #at = 0;
  readonly #s: string;

  constructor(s: string) {
    this.#s = s;
  }

  done(): boolean {
    return this.#at >= this.#s.length;
  }

  peek(): string {
    return this.#s[this.#at] ?? '';
  }

  fail(message: string): never {
    throw new ParseError(message, this.#s, this.#at);
  }

  expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected ${JSON.stringify(c)}`);
    this.#at++;
  }

  skipOws(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.#at++;
  }

  skipSp(): void {
    while (this.peek() === ' ') this.#at++;
  }

  /** §4.2.1.2 */
  innerList(): InnerList {
    this.expect('(');
    const items: Item[] = [];
    for (;;) {
      this.skipSp();
      if (this.peek() === ')') {
        this.#at++;
        return { kind: 'inner-list', items, params: this.params() };
      }
      items.push(this.item());
      if (this.peek() !== ' ' && this.peek() !== ')') this.fail('expected SP or ")" in inner list');
    }
  }

  /** §4.2.3 */
  item(): Item {
    const value = this.bareItem();
    return { kind: 'item', value, params: this.params() };
  }

  /** §4.2.3.2 */
  params(): Parameters {
    const params: Parameters = new Map();
    while (this.peek() === ';') {
      this.#at++;
      this.skipSp();
      const key = this.key();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === '=') {
        this.#at++;
        value = this.bareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  /** §4.2.3.3 */
  key(): string {
    const match = /^[a-z*][a-z0-9_\-.*]*/.exec(this.#s.slice(this.#at));
    if (match === null) this.fail('expected a key');
    this.#at += match[0].length;
    return match[0];
  }

  /** §4.2.3.1 */
  bareItem(): BareItem {
    const c = this.peek();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === '"') return this.string();
    if (c === ':') return this.byteSequence();
    if (c === '?') return this.boolean();
    if (c === '*' || /[A-Za-z]/.test(c)) return this.token();
    return this.fail('expected a bare item');
  }

  /** §4.2.4 */
  number(): BareItem {
    const match = /^-?(\d+)(?:\.(\d+))?/.exec(this.#s.slice(this.#at));
    if (match === null) this.fail('expected a digit');
    const [text, whole, fraction] = match;
    if (fraction === undefined) {
      if (whole!.length > 15) this.fail('integer longer than 15 digits');
    } else if (whole!.length > 12 || fraction.length > 3) {
      this.fail('decimal with more than 12 integer or 3 fraction digits');
    }
    this.#at += text.length;
    return fraction === undefined
      ? { type: 'integer', value: Number(text) }
      : { type: 'decimal', value: Number(text) };
  }

  /** §4.2.5 */
  string(): BareItem {
    this.expect('"');
    let value = '';
    for (;;) {
      const c = this.peek();
      if (c === '') this.fail('unterminated string');
      this.#at++;
      if (c === '"') return { type: 'string', value };
      if (c === '\\') {
        const next = this.peek();
        if (next !== '"' && next !== '\\') this.fail('bad escape in string');
        value += next;
        this.#at++;
      } else if (c < ' ' || c > '~') {
        this.fail('non-printable character in string');
      } else {
        value += c;
      }
    }
  }

  /** §4.2.6 */
  token(): BareItem {
    const match = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(this.#s.slice(this.#at));
    if (match === null) this.fail('expected a token');
    this.#at += match[0].length;
    return { type: 'token', value: match[0] };
  }

  /** §4.2.7 */
  byteSequence(): BareItem {
    this.expect(':');
    const end = this.#s.indexOf(':', this.#at);
    if (end === -1) this.fail('unterminated byte sequence');
    const b64 = this.#s.slice(this.#at, end);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) this.fail('bad base64 in byte sequence');
    this.#at = end + 1;
    return { type: 'byte-sequence', value: new Uint8Array(Buffer.from(b64, 'base64')) };
  }

  /** §4.2.8 */
  boolean(): BareItem {
    this.expect('?');
    const c = this.peek();
    if (c !== '0' && c !== '1') this.fail('expected ?0 or ?1');
    this.#at++;
    return { type: 'boolean', value: c === '1' };
  }
}
