import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/logger.js';
import {
  MAX_MAIL_MESSAGE_BYTES,
  type MailMessage,
  type MailSender,
  mailMessageBytes,
  validateMailMessage,
} from '../mail-sender.js';

/** One captured mail, as the admin mailbox lists it. Frozen. */
export interface CapturedMail {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** RFC 3339 time the mail was "sent". */
  readonly sentAt: string;
}

export interface CapturedMailboxOptions {
  /** Most mails kept; older ones are dropped first. Default 100. */
  maxMessages?: number;
  /**
   * Most bytes of mail kept (UTF-8 of the address, subject, bodies and headers); older mails are
   * dropped first. Default 8 MiB; at least `MAX_MAIL_MESSAGE_BYTES` so any valid mail fits.
   */
  maxBytes?: number;
  /** The `from` recorded on each mail. Default `groundwork@localhost`. */
  from?: string;
  /** Milliseconds since the epoch, for `sentAt`. Default `Date.now`. */
  clock?: () => number;
  /** Logs one line per captured mail (id, recipient, subject; never the body, which holds tokens). */
  logger?: Logger;
}

/**
 * The mail driver used when no SMTP server is configured: keeps the most recent mails in memory so
 * verification and password-reset flows can be completed locally and in tests (read the link from
 * the mail). It exposes no route: the auth block lists it under an admin-only endpoint, since the
 * mails hold sign-in secrets (reset tokens) for every user. Per process: with several nodes, each
 * holds the mails it sent.
 *
 * Bounded by count and by bytes; a mail is validated exactly as the SMTP driver validates it, so
 * what passes here passes there.
 *
 * @example
 *   const mailbox = new CapturedMailbox();
 *   await mailbox.send({ to: 'ada@example.com', subject: 'Verify', text: 'https://…/verify?token=…' });
 *   mailbox.list({ to: 'ada@example.com' })[0]?.text; // the newest mail to ada
 */
export class CapturedMailbox implements MailSender {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly #from: string;
  readonly #clock: () => number;
  readonly #logger: Logger | undefined;
  /** Oldest first (insertion order), by id. */
  readonly #mails = new Map<string, { mail: CapturedMail; bytes: number }>();
  #bytes = 0;

  constructor(options: CapturedMailboxOptions = {}) {
    this.maxMessages = options.maxMessages ?? 100;
    this.maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    if (!Number.isSafeInteger(this.maxMessages) || this.maxMessages < 1) {
      throw new RangeError(`maxMessages must be an integer ≥ 1, got ${options.maxMessages}`);
    }
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < MAX_MAIL_MESSAGE_BYTES) {
      throw new RangeError(
        `maxBytes must be an integer ≥ ${MAX_MAIL_MESSAGE_BYTES}, got ${options.maxBytes}`,
      );
    }
    this.#from = options.from ?? 'groundwork@localhost';
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger;
  }

  /** Mails held now. */
  get size(): number {
    return this.#mails.size;
  }

  /** Bytes held now (as counted against `maxBytes`). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Validates and keeps the mail, dropping the oldest ones beyond the bounds. */
  send(message: MailMessage): Promise<void> {
    let valid: MailMessage;
    try {
      valid = validateMailMessage(message);
    } catch (error) {
      return Promise.reject(error);
    }
    const mail: CapturedMail = Object.freeze({
      id: randomUUID(),
      from: this.#from,
      to: valid.to,
      subject: valid.subject,
      text: valid.text,
      html: valid.html ?? null,
      headers: valid.headers ?? Object.freeze({}),
      sentAt: new Date(this.#clock()).toISOString(),
    });
    const bytes = mailMessageBytes(valid);
    this.#mails.set(mail.id, { mail, bytes });
    this.#bytes += bytes;
    for (const [id, entry] of this.#mails) {
      if (this.#mails.size <= this.maxMessages && this.#bytes <= this.maxBytes) break;
      this.#mails.delete(id);
      this.#bytes -= entry.bytes;
    }
    this.#logger?.info(
      { mailId: mail.id, to: mail.to, subject: mail.subject },
      'mail captured (no SMTP configured)',
    );
    return Promise.resolve();
  }

  /** Mails held, newest first; with `to`, only those to that address (compared case-insensitively). */
  list(filter: { to?: string | undefined } = {}): CapturedMail[] {
    const to = filter.to?.trim().toLowerCase();
    const result: CapturedMail[] = [];
    for (const { mail } of this.#mails.values()) {
      if (to === undefined || mail.to.toLowerCase() === to) result.push(mail);
    }
    return result.reverse();
  }

  get(id: string): CapturedMail | undefined {
    return this.#mails.get(id)?.mail;
  }

  /** Drops every mail. */
  clear(): void {
    this.#mails.clear();
    this.#bytes = 0;
  }
}
