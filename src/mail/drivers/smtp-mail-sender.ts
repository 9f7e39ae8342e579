import type { Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import { GroundworkError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import {
  hasHeaderUnsafeCharacter,
  isMailAddress,
  type MailMessage,
  type MailSender,
  validateMailMessage,
} from '../mail-sender.js';

/** STARTTLS on `smtp://`: upgrade when the server offers it, insist on it, or never try. */
export type StartTlsPolicy = 'opportunistic' | 'required' | 'never';

export interface SmtpMailSenderOptions {
  /**
   * `smtp://[user:pass@]host[:port]` (STARTTLS per `startTls`, port default 587) or
   * `smtps://…` (TLS from the first byte, port default 465). User and password are
   * percent-decoded. Query: `?starttls=opportunistic|required|never` (overridden by `startTls`).
   */
  url: string;
  /** The `From` of every mail: `no-reply@example.com` or `Example <no-reply@example.com>`. */
  from: string;
  /** Default from the URL's `starttls`, else `opportunistic`. */
  startTls?: StartTlsPolicy;
  /** Verify the server's certificate (TLS and STARTTLS). Default true. */
  rejectUnauthorized?: boolean;
  /** Pooled connections kept to the server. Default 2. */
  maxConnections?: number;
  /** Give up connecting after this many ms. Default 10 000. */
  connectionTimeoutMs?: number;
  /** Give up waiting for the server's greeting after this many ms. Default 10 000. */
  greetingTimeoutMs?: number;
  /** Drop a connection that is silent this long, in ms. Default 30 000. */
  socketTimeoutMs?: number;
  /** `close()` waits this long, in ms, for mails being sent before cutting their connections. Default 5000. */
  closeTimeoutMs?: number;
  /** Logs the server it sends through at start (password redacted). */
  logger?: Logger;
}

type PoolTransport = Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

function configError(detail: string): GroundworkError {
  return new GroundworkError('CONFIG_ERR_INVALID', { detail });
}

function sendFailed(detail: string, cause?: unknown): GroundworkError {
  return new GroundworkError('MAIL_ERR_SEND_FAILED', { detail, cause });
}

interface ParsedUrl {
  host: string;
  port: number | undefined;
  secure: boolean;
  auth: { user: string; pass: string } | undefined;
  startTls: StartTlsPolicy | undefined;
  /** The URL with the password replaced by `***`: safe for logs. */
  redacted: string;
}

/** Parses an SMTP URL; config errors never repeat the URL (it may hold a password). */
export function parseSmtpUrl(url: string): ParsedUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw configError('The SMTP URL does not parse; expected smtp://[user:pass@]host[:port] or smtps://….');
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw configError(`The SMTP URL must start with smtp:// or smtps://, not ${parsed.protocol}//.`);
  }
  if (parsed.hostname === '') throw configError('The SMTP URL has no host.');
  const query = parsed.searchParams.get('starttls');
  if (query !== null && query !== 'opportunistic' && query !== 'required' && query !== 'never') {
    throw configError('The SMTP URL parameter starttls must be opportunistic, required or never.');
  }
  let auth: ParsedUrl['auth'];
  try {
    auth =
      parsed.username === ''
        ? undefined
        : { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) };
  } catch {
    throw configError('The SMTP URL user or password is not valid percent-encoding.');
  }
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const credentials =
    parsed.username === '' ? '' : `${parsed.username}${parsed.password === '' ? '' : ':***'}@`;
  return {
    host,
    port: parsed.port === '' ? undefined : Number(parsed.port),
    secure: parsed.protocol === 'smtps:',
    auth,
    startTls: query ?? undefined,
    redacted: `${parsed.protocol}//${credentials}${parsed.host}`,
  };
}

/** `addr@example.com` or `Name <addr@example.com>` → nodemailer's address object. */
function parseFrom(from: string): { name: string; address: string } {
  const named = /^\s*"?([^"<>]*?)"?\s*<([^<>\s]+)>\s*$/.exec(from);
  const name = named ? named[1]!.trim() : '';
  const address = named ? named[2]! : from.trim();
  if (hasHeaderUnsafeCharacter(from) || !isMailAddress(address)) {
    throw configError(
      'The mail From must be an address (no-reply@example.com) or Name <no-reply@example.com>.',
    );
  }
  return { name, address };
}

/**
 * The SMTP driver: nodemailer's pooled SMTP transport (loaded on first use, so the embedded path
 * never imports it) with bounded timeouts, file and URL access in message content disabled, and
 * its own logging off. The password lives only in the transport options: logs, errors, `String()`
 * and `inspect` show `target`, where it is replaced by `***`.
 *
 * Errors: an invalid message is refused before any connection (`MAIL_ERR_INVALID_MESSAGE`); a
 * server that cannot be reached, refuses the login or rejects the mail gives `MAIL_ERR_SEND_FAILED`
 * whose cause is nodemailer's error (it names the SMTP command and reply, never the credentials).
 *
 * @example
 *   const mail = new SmtpMailSender({
 *     url: 'smtp://apikey:secret@smtp.example.com:587',
 *     from: 'Example <no-reply@example.com>',
 *   });
 *   lifecycle.add(mail);
 *   await mail.send({ to: 'ada@example.com', subject: 'Welcome', text: 'Hello!' });
 */
export class SmtpMailSender implements MailSender, Component {
  readonly name = 'mail-smtp';
  /** The server, for logs: `smtp://user:***@host:port`. */
  readonly target: string;
  readonly #options: SMTPPool.Options;
  readonly #from: { name: string; address: string };
  readonly #closeTimeoutMs: number;
  readonly #logger: Logger | undefined;
  #transport: Promise<PoolTransport> | undefined;
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: SmtpMailSenderOptions) {
    const url = parseSmtpUrl(options.url);
    this.target = url.redacted;
    this.#from = parseFrom(options.from);
    const startTls = options.startTls ?? url.startTls ?? 'opportunistic';
    this.#options = {
      pool: true,
      maxConnections: options.maxConnections ?? 2,
      host: url.host,
      ...(url.port === undefined ? {} : { port: url.port }),
      secure: url.secure,
      ...(url.auth === undefined ? {} : { auth: url.auth }),
      ignoreTLS: startTls === 'never',
      requireTLS: startTls === 'required',
      tls: { rejectUnauthorized: options.rejectUnauthorized ?? true },
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      greetingTimeout: options.greetingTimeoutMs ?? 10_000,
      socketTimeout: options.socketTimeoutMs ?? 30_000,
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
      debug: false,
    };
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.#logger = options.logger;
  }

  /** Creates the transport (no connection yet: the pool connects on the first mail). */
  async start(): Promise<void> {
    await this.#connect();
    this.#logger?.info({ smtp: this.target, from: this.#from.address }, 'mail: sending through SMTP');
  }

  /** Connects and logs in once, to check the configuration; rejects with `MAIL_ERR_SEND_FAILED`. */
  async verify(): Promise<void> {
    const transport = await this.#connect();
    try {
      await transport.verify();
    } catch (cause) {
      throw sendFailed('The SMTP server could not be reached or refused the login.', cause);
    }
  }

  async send(message: MailMessage): Promise<void> {
    const valid = validateMailMessage(message);
    if (this.#closed) throw sendFailed('The mail sender is closed.');
    // Tracked from the start (before the transport is even loaded), so close() waits for it.
    const delivery = this.#deliver(valid);
    this.#pending.add(delivery);
    try {
      await delivery;
    } finally {
      this.#pending.delete(delivery);
    }
  }

  async #deliver(message: MailMessage): Promise<void> {
    const transport = await this.#connect(true);
    try {
      await transport.sendMail({
        from: this.#from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        ...(message.html === undefined ? {} : { html: message.html }),
        ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
        disableFileAccess: true,
        disableUrlAccess: true,
      });
    } catch (cause) {
      throw sendFailed('The mail server did not accept the message.', cause);
    }
  }

  /**
   * Refuses new mails, lets the ones being sent finish (up to `closeTimeoutMs`), then closes every
   * pooled connection. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#closeTimeoutMs);
      });
      await Promise.race([Promise.allSettled([...this.#pending]), deadline]);
      clearTimeout(timer);
    }
    const transport = await this.#transport?.catch(() => undefined);
    if (transport === undefined) return;
    // nodemailer ≥ 10.4: `force` also ends connections still delivering (after the wait above).
    (transport.close as (options?: { force?: boolean }) => void).call(transport, { force: true });
  }

  toString(): string {
    return `SmtpMailSender(${this.target})`;
  }

  toJSON(): { target: string } {
    return { target: this.target };
  }

  /** The transport, created once; `admitted` deliveries began before close() and may still use it. */
  #connect(admitted = false): Promise<PoolTransport> {
    if (this.#closed && (!admitted || this.#transport === undefined)) {
      return Promise.reject(sendFailed('The mail sender is closed.'));
    }
    this.#transport ??= import('nodemailer').then(({ createTransport }) => createTransport(this.#options));
    return this.#transport;
  }
}
