import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isGroundworkError } from '../core/errors.js';
import {
  isMailAddress,
  MAIL_LIMITS,
  MAX_MAIL_MESSAGE_BYTES,
  type MailMessage,
  mailMessageBytes,
  validateMailMessage,
} from './mail-sender.js';

function refusal(message: unknown): string | undefined {
  try {
    validateMailMessage(message as MailMessage);
    return undefined;
  } catch (error) {
    if (isGroundworkError(error) && error.code === 'MAIL_ERR_INVALID_MESSAGE') return error.detail;
    throw error;
  }
}

const ok: MailMessage = { to: 'ada@example.com', subject: 'Verify your email', text: 'Hello\r\nline 2\n' };

describe('validateMailMessage', () => {
  it('accepts a plain message and returns a frozen copy with only the known fields', () => {
    const extra = { ...ok, headers: { 'List-Unsubscribe': '<mailto:u@example.com>' }, cc: 'x@example.com' };
    const valid = validateMailMessage({ ...extra, to: '  Ada@Example.com ' } as MailMessage);
    expect(valid).toEqual({
      to: 'Ada@Example.com',
      subject: ok.subject,
      text: ok.text,
      headers: { 'List-Unsubscribe': '<mailto:u@example.com>' },
    });
    expect(Object.isFrozen(valid)).toBe(true);
    expect(Object.isFrozen(valid.headers)).toBe(true);
  });

  it('accepts one plain address only', () => {
    for (const to of ['a@b', 'first.last+tag@sub.example.co.uk', "o'brien@example.com", 'ada@例え.jp']) {
      expect(isMailAddress(to), to).toBe(true);
    }
    for (const to of [
      'Ada <ada@example.com>',
      'ada@example.com, eve@example.com',
      'ada@example.com;eve@example.com',
      'ada example@example.com',
      '"quoted"@example.com',
      'ada@-example.com',
      'ada@example..com',
      '.ada@example.com',
      '@example.com',
      'ada@',
      'ada',
      `${'a'.repeat(65)}@example.com`,
      `a@${'b'.repeat(250)}.com`,
    ]) {
      expect(isMailAddress(to), to).toBe(false);
      expect(refusal({ ...ok, to }), to).toBeDefined();
    }
  });

  it('refuses CR, LF and other control characters in every header field (header injection)', () => {
    const injected = 'Hi\r\nBcc: victim@example.com';
    expect(refusal({ ...ok, subject: injected })).toMatch(/header injection/);
    expect(refusal({ ...ok, to: 'ada@example.com\r\nBcc: victim@example.com' })).toMatch(/header injection/);
    expect(refusal({ ...ok, headers: { 'X-Note': injected } })).toMatch(/header injection/);
    for (const bad of ['\n', '\r', '\u0000', '\u000b', '\u007f', '\u2028', '\u2029']) {
      expect(refusal({ ...ok, subject: `a${bad}b` }), JSON.stringify(bad)).toBeDefined();
    }
    expect(refusal({ ...ok, subject: 'tab\tis fine' })).toBeUndefined();
    // The detail names the field, never repeats the value.
    expect(refusal({ ...ok, subject: injected })).not.toContain('victim');
  });

  it('refuses any subject or header value with a line break (property)', () => {
    const withBreak = fc
      .tuple(fc.string({ maxLength: 40 }), fc.constantFrom('\r', '\n', '\r\n'), fc.string({ maxLength: 40 }))
      .map(([a, br, b]) => a + br + b);
    fc.assert(
      fc.property(withBreak, (value) => {
        expect(refusal({ ...ok, subject: value })).toBeDefined();
        expect(refusal({ ...ok, headers: { 'X-Any': value } })).toBeDefined();
      }),
    );
  });

  it('refuses reserved, malformed and too many headers', () => {
    for (const name of ['Bcc', 'to', 'FROM', 'Content-Type', 'Subject']) {
      expect(refusal({ ...ok, headers: { [name]: 'x' } }), name).toMatch(/set by the mail sender/);
    }
    for (const name of ['X Bad', 'X:Bad', '', 'X-Ü', 'X-\r\nBcc']) {
      expect(refusal({ ...ok, headers: { [name]: 'x' } }), name).toMatch(/not a valid field name/);
    }
    const many = Object.fromEntries(
      Array.from({ length: MAIL_LIMITS.headers + 1 }, (_, i) => [`X-${i}`, 'v']),
    );
    expect(refusal({ ...ok, headers: many })).toMatch(/At most/);
  });

  it('bounds every size', () => {
    expect(refusal({ ...ok, subject: 's'.repeat(MAIL_LIMITS.subjectChars) })).toBeUndefined();
    expect(refusal({ ...ok, subject: 's'.repeat(MAIL_LIMITS.subjectChars + 1) })).toMatch(/longer/);
    expect(refusal({ ...ok, text: 'é'.repeat(MAIL_LIMITS.textBytes / 2) })).toBeUndefined();
    expect(refusal({ ...ok, text: 'é'.repeat(MAIL_LIMITS.textBytes / 2 + 1) })).toMatch(/larger/);
    expect(refusal({ ...ok, html: 'x'.repeat(MAIL_LIMITS.htmlBytes + 1) })).toMatch(/larger/);
    expect(refusal({ ...ok, headers: { 'X-Long': 'v'.repeat(MAIL_LIMITS.headerValueChars + 1) } })).toMatch(
      /longer/,
    );
  });

  it('refuses values of the wrong type', () => {
    expect(refusal(null)).toBeDefined();
    expect(refusal({ ...ok, to: ['a@example.com'] })).toBeDefined();
    expect(refusal({ ...ok, text: undefined })).toBeDefined();
    expect(refusal({ ...ok, headers: { 'X-N': 1 } })).toBeDefined();
  });

  it('MAX_MAIL_MESSAGE_BYTES bounds the largest valid message', () => {
    const largest = validateMailMessage({
      to: `${'a'.repeat(64)}@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}`,
      subject: '€'.repeat(MAIL_LIMITS.subjectChars),
      text: 'x'.repeat(MAIL_LIMITS.textBytes),
      html: 'y'.repeat(MAIL_LIMITS.htmlBytes),
      headers: Object.fromEntries(
        Array.from({ length: MAIL_LIMITS.headers }, (_, i) => [
          `X-${String(i).padStart(MAIL_LIMITS.headerNameChars - 2, '0')}`,
          '€'.repeat(MAIL_LIMITS.headerValueChars),
        ]),
      ),
    });
    expect(mailMessageBytes(largest)).toBeLessThanOrEqual(MAX_MAIL_MESSAGE_BYTES);
    expect(mailMessageBytes(largest)).toBeGreaterThan(MAX_MAIL_MESSAGE_BYTES - 1_000);
  });
});
