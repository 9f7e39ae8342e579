import { GroundworkError } from '../../core/errors.js';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * Reads `Idempotency-Key` per draft-ietf-httpapi-idempotency-key-header §2.1: an Item Structured
 * Header whose value is an sf-string (RFC 8941 §3.3.3), e.g. `"8e03978e-40d5-43e8-bc93-6894a57f9324"`.
 * A bare token (Stripe's style) is accepted too. Returns undefined when the header is absent.
 * Throws GATEWAY_ERR_IDEMPOTENCY_KEY_INVALID for anything else (several values, empty, too long,
 * characters outside printable ASCII).
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) {
    if (header.length !== 1) throw invalid('send exactly one Idempotency-Key header');
    return parseIdempotencyKey(header[0]);
  }
  const text = header.trim();
  let key: string;
  if (text.startsWith('"')) {
    key = parseSfString(text);
  } else {
    if (!/^[A-Za-z0-9._~:/+=-]+$/.test(text))
      throw invalid('the key must be a quoted string (RFC 8941) or a token');
    key = text;
  }
  if (key.length === 0) throw invalid('the key is empty');
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH)
    throw invalid(`the key is longer than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  return key;
}

/** RFC 8941 §4.2.5: a quoted string of printable ASCII with only \" and \\ escapes, nothing after it. */
function parseSfString(text: string): string {
  let out = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x5c) {
      const next = text[++i];
      if (next !== '"' && next !== '\\') throw invalid('bad escape in the quoted key');
      out += next;
    } else if (ch === 0x22) {
      if (i !== text.length - 1) throw invalid('characters after the quoted key');
      return out;
    } else if (ch < 0x20 || ch > 0x7e) {
      throw invalid('the key must be printable ASCII');
    } else {
      out += text[i];
    }
  }
  throw invalid('unterminated quoted key');
}

function invalid(detail: string): GroundworkError {
  return new GroundworkError('GATEWAY_ERR_IDEMPOTENCY_KEY_INVALID', {
    detail: `Invalid Idempotency-Key: ${detail}.`,
  });
}
