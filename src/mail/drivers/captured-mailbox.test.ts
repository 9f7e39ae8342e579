import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { MAX_MAIL_MESSAGE_BYTES, type MailMessage, mailMessageBytes } from '../mail-sender.js';
import { CapturedMailbox } from './captured-mailbox.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const mail = (to: string, subject: string, extra: Partial<MailMessage> = {}): MailMessage => ({
  to,
  subject,
  text: `body of ${subject}`,
  ...extra,
});

describe('CapturedMailbox', () => {
  it('keeps each mail with id, from, to, subject, text, html, headers and sentAt', async () => {
    let now = T0;
    const box = new CapturedMailbox({ from: 'no-reply@app.test', clock: () => now });
    await box.send(mail('ada@example.com', 'Verify', { html: '<p>hi</p>', headers: { 'X-Flow': 'verify' } }));
    now += 1_000;
    await box.send(mail('bob@example.com', 'Reset'));
    const [newest, oldest] = box.list();
    expect(oldest).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      from: 'no-reply@app.test',
      to: 'ada@example.com',
      subject: 'Verify',
      text: 'body of Verify',
      html: '<p>hi</p>',
      headers: { 'X-Flow': 'verify' },
      sentAt: '2026-11-22T12:00:00.000Z',
    });
    expect(newest).toMatchObject({
      to: 'bob@example.com',
      html: null,
      headers: {},
      sentAt: '2026-11-22T12:00:01.000Z',
    });
    expect(box.get(oldest!.id)).toBe(oldest);
    expect(box.get('nope')).toBeUndefined();
    expect(Object.isFrozen(oldest)).toBe(true);
  });

  it('filters by recipient, case-insensitively, newest first', async () => {
    const box = new CapturedMailbox();
    await box.send(mail('ada@example.com', 'one'));
    await box.send(mail('bob@example.com', 'two'));
    await box.send(mail('Ada@Example.com', 'three'));
    expect(box.list({ to: 'ADA@example.com' }).map((m) => m.subject)).toEqual(['three', 'one']);
    expect(box.list({ to: 'carol@example.com' })).toEqual([]);
    expect(box.list({ to: undefined }).map((m) => m.subject)).toEqual(['three', 'two', 'one']);
  });

  it('keeps at most maxMessages, dropping the oldest', async () => {
    const box = new CapturedMailbox({ maxMessages: 3 });
    for (let i = 0; i < 5; i++) await box.send(mail('ada@example.com', `m${i}`));
    expect(box.size).toBe(3);
    expect(box.list().map((m) => m.subject)).toEqual(['m4', 'm3', 'm2']);
  });

  it('keeps at most maxBytes, dropping the oldest, and always keeps the newest', async () => {
    const box = new CapturedMailbox({ maxBytes: MAX_MAIL_MESSAGE_BYTES });
    const big = (subject: string) => mail('ada@example.com', subject, { text: 'x'.repeat(200 * 1024) });
    const size = mailMessageBytes(big('a'));
    for (const subject of ['a', 'b', 'c', 'd']) await box.send(big(subject));
    // Two 200 KiB mails fit in MAX_MAIL_MESSAGE_BYTES (~535 KiB), three do not.
    expect(box.list().map((m) => m.subject)).toEqual(['d', 'c']);
    expect(box.bytes).toBe(2 * size);
    expect(box.bytes).toBeLessThanOrEqual(box.maxBytes);
    await box.send(mail('ada@example.com', 'small'));
    expect(box.list().map((m) => m.subject)).toEqual(['small', 'd', 'c']);
  });

  it('refuses header injection and invalid mails, keeping nothing', async () => {
    const box = new CapturedMailbox();
    await expect(box.send(mail('ada@example.com', 'Hi\r\nBcc: eve@example.com'))).rejects.toMatchObject({
      code: 'MAIL_ERR_INVALID_MESSAGE',
    });
    await expect(box.send(mail('ada@example.com\nBcc: eve@example.com', 'Hi'))).rejects.toMatchObject({
      code: 'MAIL_ERR_INVALID_MESSAGE',
    });
    await expect(box.send(mail('Ada <ada@example.com>', 'Hi'))).rejects.toMatchObject({
      code: 'MAIL_ERR_INVALID_MESSAGE',
    });
    await expect(
      box.send(mail('ada@example.com', 'Hi', { headers: { Bcc: 'eve@example.com' } })),
    ).rejects.toMatchObject({ code: 'MAIL_ERR_INVALID_MESSAGE' });
    expect(box.size).toBe(0);
    expect(box.bytes).toBe(0);
  });

  it('clear() drops everything', async () => {
    const box = new CapturedMailbox();
    await box.send(mail('ada@example.com', 'one'));
    box.clear();
    expect(box.list()).toEqual([]);
    expect(box.bytes).toBe(0);
  });

  it('logs recipient and subject, never the body (which holds tokens)', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const box = new CapturedMailbox({ logger: createLogger('info', sink) });
    await box.send(mail('ada@example.com', 'Reset', { text: 'https://app.test/reset?token=SECRET-TOKEN' }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ada@example.com');
    expect(lines[0]).not.toContain('SECRET-TOKEN');
  });

  it('refuses bounds that could not hold a valid mail', () => {
    expect(() => new CapturedMailbox({ maxMessages: 0 })).toThrow(RangeError);
    expect(() => new CapturedMailbox({ maxBytes: MAX_MAIL_MESSAGE_BYTES - 1 })).toThrow(RangeError);
  });
});
