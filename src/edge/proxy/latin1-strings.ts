/**
 * Strings of the response header bytes undici hands over (`Buffer`s, latin1 per RFC 9110 §5.5),
 * made once and reused: a small direct-mapped table remembers the last string seen for each slot,
 * and a buffer whose bytes match it gets that same string back.
 *
 * Why: a response's field names are nearly always the same few (`content-type`, `date`, …), and its
 * values often are (`keep-alive`, a content type). A fresh string per field costs a copy, for names
 * a lower-casing, and then V8 must internalise it again when it becomes a property of the header
 * object (a hash and a table lookup): together several times the cost of comparing a few bytes
 * against the remembered string, which is already internalised. A miss costs one compare more than
 * making the string, and replaces the slot. Only short strings are remembered.
 */

/** Longest string remembered, in bytes. */
const MAX_LENGTH = 64;

export class Latin1Strings {
  readonly #mask: number;
  readonly #bytes: (Uint8Array | undefined)[];
  readonly #strings: string[];
  readonly #lowerCase: boolean;

  /**
   * `slots`: table size, a power of two. `lowerCase`: names (matched and returned in lower case)
   * rather than values (matched and returned exactly).
   */
  constructor(slots: number, lowerCase: boolean) {
    this.#mask = slots - 1;
    this.#bytes = new Array<Uint8Array | undefined>(slots).fill(undefined);
    this.#strings = new Array<string>(slots).fill('');
    this.#lowerCase = lowerCase;
  }

  /** The latin1 string of `buf` (lower-cased for a name table). */
  get(buf: Buffer): string {
    const length = buf.length;
    if (length === 0) return '';
    if (length > MAX_LENGTH) return this.#make(buf);
    const fold = this.#lowerCase ? 0x20 : 0;
    const slot =
      (length * 31 + (buf[0]! | fold) * 7 + (buf[length - 1]! | fold) * 13 + (buf[length >> 1]! | fold)) &
      this.#mask;
    const known = this.#bytes[slot];
    if (known !== undefined && known.length === length && this.#matches(buf, known)) {
      return this.#strings[slot]!;
    }
    const made = this.#make(buf);
    this.#bytes[slot] = Buffer.from(made, 'latin1');
    this.#strings[slot] = made;
    return made;
  }

  #matches(buf: Buffer, known: Uint8Array): boolean {
    const length = buf.length;
    if (this.#lowerCase) {
      for (let i = 0; i < length; i++) {
        let c = buf[i]!;
        if (c >= 65 && c <= 90) c += 32; // A-Z → a-z
        if (c !== known[i]) return false;
      }
      return true;
    }
    for (let i = 0; i < length; i++) if (buf[i] !== known[i]) return false;
    return true;
  }

  #make(buf: Buffer): string {
    const made = buf.toString('latin1');
    return this.#lowerCase ? made.toLowerCase() : made;
  }
}
