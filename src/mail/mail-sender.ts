import { GroundworkError } from '../core/errors.js';

/**
 * The mail port: one operation, `send`. Auth uses it for verification and password-reset mails.
 * Drivers: `drivers/smtp-mail-sender.ts` (nodemailer over SMTP) when an SMTP URL is configured,
 * else `drivers/captured-mailbox.ts` (kept in memory, listed by an admin-only route) so the flows
 * can be completed locally and in tests.
 *
 * Every driver validates with `validateMailMessage` before anything else: one plain recipient
 * address, no CR/LF or other control characters in any header field (header injection: a subject
 * `"Hi\r\nBcc: victim@example.com"` must never add a recipient), no reserved or malformed custom
 * headers, bounded sizes. The sender address (`From`) is configured on the driver, never per message.
 */

/** A plain-text mail (with an optional HTML alternative) to one recipient. */
export interface MailMessage {
  /** One address, `local@domain`, without a display name. */
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string | undefined;
  /** Extra header fields (`List-Unsubscribe`, `X-…`); the standard ones are reserved. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

export interface MailSender {
  /**
   * Sends one message. Rejects with `MAIL_ERR_INVALID_MESSAGE` before any I/O when the message is
   * invalid, or `MAIL_ERR_SEND_FAILED` when it could not be handed over.
   */
  send(message: MailMessage): Promise<void>;
}

/** Bounds of one message. Auth mails are a few hundred bytes; these leave room and stop abuse. */
export const MAIL_LIMITS = Object.freeze({
  /** RFC 5321 §4.5.3.1: 64 octets of local part, 254 for a whole forward path's address. */
  addressChars: 254,
  localPartChars: 64,
  subjectChars: 500,
  /** UTF-8 bytes of each body part. */
  textBytes: 256 * 1024,
  htmlBytes: 256 * 1024,
  headers: 20,
  headerNameChars: 76,
  /** RFC 5322 §2.1.1: a line is at most 998 characters. */
  headerValueChars: 998,
});

/** Header fields a message may not set: the driver writes them, or they would change the envelope. */
const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'sender',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'return-path',
  'received',
  'dkim-signature',
]);

/** RFC 5322 dot-atom local part (ASCII; no quoted strings, comments or whitespace). */
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
/** Domain labels of letters (any script: nodemailer sends IDNs as punycode), digits and inner hyphens. */
const DOMAIN =
  /^(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?)(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?)*$/u;
/** RFC 5322 §3.6.8 field name: printable ASCII except the colon. */
const HEADER_NAME = /^[!-9;-~]+$/;
/**
 * True when `value` holds a character that may not appear in a header field: a C0 control (CR and
 * LF among them) other than TAB, DEL, or the Unicode line and paragraph separators.
 */
export function hasHeaderUnsafeCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

function invalid(detail: string): GroundworkError {
  return new GroundworkError('MAIL_ERR_INVALID_MESSAGE', { detail });
}

/** True for one plain address `local@domain` within the RFC 5321 lengths. */
export function isMailAddress(value: string): boolean {
  if (value.length > MAIL_LIMITS.addressChars) return false;
  const at = value.lastIndexOf('@');
  if (at <= 0) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  return local.length <= MAIL_LIMITS.localPartChars && LOCAL_PART.test(local) && DOMAIN.test(domain);
}

function checkHeaderText(field: string, value: unknown, maxChars: number): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string.`);
  if (hasHeaderUnsafeCharacter(value)) {
    throw invalid(`${field} contains a line break or control character (header injection refused).`);
  }
  if (value.length > maxChars) throw invalid(`${field} is longer than ${maxChars} characters.`);
  return value;
}

function checkBody(field: string, value: unknown, maxBytes: number): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string.`);
  if (Buffer.byteLength(value) > maxBytes) throw invalid(`${field} is larger than ${maxBytes} bytes.`);
  return value;
}

/**
 * Checks a message and returns a frozen copy with only the known fields (`to` trimmed). Throws
 * `MAIL_ERR_INVALID_MESSAGE` naming the field and the rule; the detail never repeats the value.
 */
export function validateMailMessage(message: MailMessage): MailMessage {
  if (typeof message !== 'object' || message === null) throw invalid('A mail message must be an object.');
  const to = checkHeaderText('to', message.to, MAIL_LIMITS.addressChars).trim();
  if (!isMailAddress(to))
    throw invalid('to must be one plain address (local@domain), without a display name.');
  const subject = checkHeaderText('subject', message.subject, MAIL_LIMITS.subjectChars);
  const text = checkBody('text', message.text, MAIL_LIMITS.textBytes);
  const html =
    message.html === undefined ? undefined : checkBody('html', message.html, MAIL_LIMITS.htmlBytes);
  let headers: Record<string, string> | undefined;
  if (message.headers !== undefined) {
    if (typeof message.headers !== 'object' || message.headers === null)
      throw invalid('headers must be an object.');
    const entries = Object.entries(message.headers);
    if (entries.length > MAIL_LIMITS.headers) throw invalid(`At most ${MAIL_LIMITS.headers} headers.`);
    headers = {};
    for (const [name, value] of entries) {
      if (!HEADER_NAME.test(name) || name.length > MAIL_LIMITS.headerNameChars) {
        throw invalid(`Header name ${JSON.stringify(name.slice(0, 80))} is not a valid field name.`);
      }
      if (RESERVED_HEADERS.has(name.toLowerCase()))
        throw invalid(`Header ${name} is set by the mail sender.`);
      headers[name] = checkHeaderText(`Header ${name}`, value, MAIL_LIMITS.headerValueChars);
    }
    Object.freeze(headers);
  }
  return Object.freeze({
    to,
    subject,
    text,
    ...(html === undefined ? {} : { html }),
    ...(headers === undefined ? {} : { headers }),
  });
}

/** UTF-8 bytes a validated message holds (what the captured mailbox counts against its bound). */
export function mailMessageBytes(message: MailMessage): number {
  let bytes =
    Buffer.byteLength(message.to) + Buffer.byteLength(message.subject) + Buffer.byteLength(message.text);
  if (message.html !== undefined) bytes += Buffer.byteLength(message.html);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  return bytes;
}

/** The largest `mailMessageBytes` of a valid message (a UTF-16 unit is at most 3 UTF-8 bytes). */
export const MAX_MAIL_MESSAGE_BYTES =
  3 * MAIL_LIMITS.addressChars +
  3 * MAIL_LIMITS.subjectChars +
  MAIL_LIMITS.textBytes +
  MAIL_LIMITS.htmlBytes +
  MAIL_LIMITS.headers * (MAIL_LIMITS.headerNameChars + 3 * MAIL_LIMITS.headerValueChars);
