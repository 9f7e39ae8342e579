import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { parseSmtpUrl, SmtpMailSender } from '../../src/mail/drivers/smtp-mail-sender.js';
import { freePort, waitFor } from '../harness/engines.js';

/**
 * The SMTP driver against a minimal SMTP responder written here with node:net on a loopback port:
 * EHLO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT — just what nodemailer needs. It
 * records every envelope and message so the tests can check what reached the server.
 */

interface Delivery {
  mailFrom: string;
  rcptTo: string[];
  /** The DATA section, dot-unstuffed, with CRLF line ends. */
  data: string;
  /** The credentials the session logged in with, if any. */
  login?: { user: string; pass: string };
}

interface SmtpResponder {
  port: number;
  deliveries: Delivery[];
  /** Every command line received (AUTH lines with their payload replaced by `…`). */
  commands: string[];
  /** Connections accepted so far, and those still open. */
  connections: number;
  open: number;
  close(): Promise<void>;
}

async function startResponder(
  options: { auth?: { user: string; pass: string } } = {},
): Promise<SmtpResponder> {
  const sockets = new Set<Socket>();
  const responder: SmtpResponder = {
    port: 0,
    deliveries: [],
    commands: [],
    connections: 0,
    open: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    responder.connections++;
    responder.open++;
    socket.on('close', () => {
      sockets.delete(socket);
      responder.open--;
    });
    socket.on('error', () => {});
    let buffer = '';
    let mode: 'command' | 'data' | 'auth' = 'command';
    let login: Delivery['login'];
    let current: Delivery = { mailFrom: '', rcptTo: [], data: '' };
    const reply = (...lines: string[]) => socket.write(lines.map((l) => `${l}\r\n`).join(''));
    const checkLogin = (base64: string) => {
      const [, user = '', pass = ''] = Buffer.from(base64, 'base64').toString('utf8').split('\u0000');
      if (options.auth && user === options.auth.user && pass === options.auth.pass) {
        login = { user, pass };
        reply('235 2.7.0 Authentication successful');
      } else {
        reply('535 5.7.8 Authentication credentials invalid');
      }
    };
    const handle = (line: string) => {
      if (mode === 'data') {
        if (line === '.') {
          mode = 'command';
          responder.deliveries.push({ ...current, ...(login ? { login } : {}) });
          current = { mailFrom: '', rcptTo: [], data: '' };
          reply('250 2.0.0 Ok: queued');
        } else {
          current.data += `${line.startsWith('.') ? line.slice(1) : line}\r\n`;
        }
        return;
      }
      if (mode === 'auth') {
        mode = 'command';
        checkLogin(line);
        return;
      }
      const verb = line.split(' ', 1)[0]!.toUpperCase();
      responder.commands.push(verb === 'AUTH' ? 'AUTH …' : line);
      switch (verb) {
        case 'EHLO':
          reply('250-test.local', ...(options.auth ? ['250-AUTH PLAIN'] : []), '250 8BITMIME');
          return;
        case 'HELO':
          reply('250 test.local');
          return;
        case 'AUTH': {
          const [, mechanism, initial] = line.split(' ');
          if (mechanism?.toUpperCase() !== 'PLAIN') return void reply('504 5.5.4 Unrecognized mechanism');
          if (initial === undefined) {
            mode = 'auth';
            reply('334 ');
          } else {
            checkLogin(initial);
          }
          return;
        }
        case 'MAIL':
          if (options.auth && !login) return void reply('530 5.7.0 Authentication required');
          current.mailFrom = /<(.*)>/.exec(line)?.[1] ?? '';
          reply('250 2.1.0 Ok');
          return;
        case 'RCPT':
          current.rcptTo.push(/<(.*)>/.exec(line)?.[1] ?? '');
          reply('250 2.1.5 Ok');
          return;
        case 'DATA':
          mode = 'data';
          reply('354 End data with <CR><LF>.<CR><LF>');
          return;
        case 'RSET':
          current = { mailFrom: '', rcptTo: [], data: '' };
          reply('250 2.0.0 Ok');
          return;
        case 'NOOP':
          reply('250 2.0.0 Ok');
          return;
        case 'QUIT':
          reply('221 2.0.0 Bye');
          socket.end();
          return;
        default:
          reply('502 5.5.2 Command not recognized');
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        handle(line);
      }
    });
    reply('220 test.local ESMTP ready');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  responder.port = (server.address() as { port: number }).port;
  return responder;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setUp(auth?: { user: string; pass: string }) {
  const server = await startResponder(auth ? { auth } : {});
  cleanup.push(() => server.close());
  return server;
}

function sender(url: string, extra: Partial<ConstructorParameters<typeof SmtpMailSender>[0]> = {}) {
  const mail = new SmtpMailSender({
    url,
    from: 'Groundwork <no-reply@app.test>',
    connectionTimeoutMs: 2_000,
    greetingTimeoutMs: 2_000,
    socketTimeoutMs: 5_000,
    ...extra,
  });
  cleanup.push(() => mail.close());
  return mail;
}

describe('SmtpMailSender against a loopback SMTP responder', () => {
  it('delivers the envelope and the message (text, HTML alternative, custom header)', async () => {
    const server = await setUp();
    const mail = sender(`smtp://127.0.0.1:${server.port}`);
    await mail.send({
      to: 'ada@example.com',
      subject: 'Verify your email',
      text: 'Open https://app.test/verify?token=abc\n.a line starting with a dot\n',
      html: '<p>Open the link</p>',
      headers: { 'X-Groundwork-Mail': 'verify' },
    });
    expect(server.deliveries).toHaveLength(1);
    const [delivery] = server.deliveries;
    expect(delivery!.mailFrom).toBe('no-reply@app.test');
    expect(delivery!.rcptTo).toEqual(['ada@example.com']);
    expect(delivery!.data).toMatch(/^From: Groundwork <no-reply@app\.test>\r$/m);
    expect(delivery!.data).toMatch(/^To: ada@example\.com\r$/m);
    expect(delivery!.data).toMatch(/^Subject: Verify your email\r$/m);
    expect(delivery!.data).toMatch(/^X-Groundwork-Mail: verify\r$/m);
    expect(delivery!.data).toMatch(/^Content-Type: multipart\/alternative;/m);
    expect(delivery!.data).toContain('Open https://app.test/verify?token=abc\r\n.a line starting with a dot');
    expect(delivery!.data).toContain('<p>Open the link</p>');
    expect(server.commands.some((c) => c.startsWith('EHLO'))).toBe(true);
    expect(server.commands).not.toContain('AUTH …');
  });

  it('logs in with AUTH PLAIN using the percent-decoded user and password of the URL', async () => {
    const server = await setUp({ user: 'mailer@app.test', pass: 'p@ss:w/rd' });
    const mail = sender(`smtp://mailer%40app.test:p%40ss%3Aw%2Frd@127.0.0.1:${server.port}`);
    await mail.send({ to: 'bob@example.com', subject: 'Reset', text: 'reset link' });
    expect(server.commands).toContain('AUTH …');
    expect(server.deliveries).toHaveLength(1);
    expect(server.deliveries[0]!.login).toEqual({ user: 'mailer@app.test', pass: 'p@ss:w/rd' });
    expect(server.deliveries[0]!.rcptTo).toEqual(['bob@example.com']);
  });

  it('a refused login is MAIL_ERR_SEND_FAILED, and no error text or log line holds the password', async () => {
    const server = await setUp({ user: 'mailer', pass: 'right-password' });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger('debug', sink);
    const mail = sender(`smtp://mailer:Wrong-Secret-123@127.0.0.1:${server.port}`, { logger });
    await mail.start();
    const error = await mail.send({ to: 'bob@example.com', subject: 'Reset', text: 'x' }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string; cause: unknown },
    );
    expect(error).toMatchObject({ code: 'MAIL_ERR_SEND_FAILED', status: 502 });
    expect(server.deliveries).toEqual([]);
    logger.error({ err: error }, 'auth mail not sent'); // what the auth block does with it
    const seen = [
      ...lines,
      inspect(error, { depth: 10 }),
      JSON.stringify(error),
      mail.target,
      String(mail),
      JSON.stringify(mail),
      inspect(mail, { depth: 10 }),
    ].join('\n');
    expect(seen).toContain('smtp://mailer:***@127.0.0.1');
    expect(seen).not.toContain('Wrong-Secret-123');
  });

  it('refuses header injection before connecting to the server', async () => {
    const server = await setUp();
    const mail = sender(`smtp://127.0.0.1:${server.port}`);
    await expect(
      mail.send({ to: 'ada@example.com', subject: 'Hi\r\nBcc: eve@example.com', text: 'x' }),
    ).rejects.toMatchObject({ code: 'MAIL_ERR_INVALID_MESSAGE' });
    await expect(
      mail.send({ to: 'ada@example.com>\r\nRCPT TO:<eve@example.com', subject: 'Hi', text: 'x' }),
    ).rejects.toMatchObject({ code: 'MAIL_ERR_INVALID_MESSAGE' });
    expect(server.connections).toBe(0);
  });

  it('starttls=required refuses a server that does not offer STARTTLS', async () => {
    const server = await setUp();
    const mail = sender(`smtp://127.0.0.1:${server.port}?starttls=required`);
    await expect(mail.send({ to: 'ada@example.com', subject: 'Hi', text: 'x' })).rejects.toMatchObject({
      code: 'MAIL_ERR_SEND_FAILED',
    });
    expect(server.deliveries).toEqual([]);
  });

  it('an unreachable server is MAIL_ERR_SEND_FAILED', async () => {
    const port = await freePort(); // bound and released: nothing listens there
    const mail = sender(`smtp://127.0.0.1:${port}`);
    await expect(mail.send({ to: 'ada@example.com', subject: 'Hi', text: 'x' })).rejects.toMatchObject({
      code: 'MAIL_ERR_SEND_FAILED',
    });
  });

  it('reuses pooled connections and closes them on shutdown; later sends fail', async () => {
    const server = await setUp();
    const mail = sender(`smtp://127.0.0.1:${server.port}`, { maxConnections: 1 });
    for (let i = 0; i < 3; i++) await mail.send({ to: 'ada@example.com', subject: `m${i}`, text: 'x' });
    expect(server.deliveries.map((d) => /^Subject: (.*)\r$/m.exec(d.data)?.[1])).toEqual(['m0', 'm1', 'm2']);
    expect(server.connections).toBe(1);
    expect(server.open).toBe(1);
    await mail.close();
    await waitFor(() => server.open === 0, { timeoutMs: 5_000, what: 'the pooled SMTP connection to close' });
    await expect(mail.send({ to: 'ada@example.com', subject: 'late', text: 'x' })).rejects.toMatchObject({
      code: 'MAIL_ERR_SEND_FAILED',
    });
    await mail.close(); // idempotent
  });

  it('waits for a mail being sent before closing', async () => {
    const server = await setUp();
    const mail = sender(`smtp://127.0.0.1:${server.port}`);
    const sending = mail.send({ to: 'ada@example.com', subject: 'in flight', text: 'x' });
    await mail.close();
    await expect(sending).resolves.toBeUndefined();
    expect(server.deliveries).toHaveLength(1);
  });
});

describe('SMTP configuration', () => {
  it('parses smtp:// and smtps:// URLs and redacts the password', () => {
    expect(parseSmtpUrl('smtp://u:p%40ss@mail.example.com:2525?starttls=never')).toEqual({
      host: 'mail.example.com',
      port: 2525,
      secure: false,
      auth: { user: 'u', pass: 'p@ss' },
      startTls: 'never',
      redacted: 'smtp://u:***@mail.example.com:2525',
    });
    expect(parseSmtpUrl('smtps://[::1]')).toMatchObject({
      host: '::1',
      port: undefined,
      secure: true,
      auth: undefined,
    });
  });

  it('refuses bad URLs and From addresses without repeating the URL', () => {
    for (const url of ['http://u:secret@host', 'smtp://', 'not a url secret', 'smtp://h?starttls=maybe']) {
      let message = '';
      try {
        parseSmtpUrl(url);
      } catch (error) {
        message = (error as Error).message;
        expect(error).toMatchObject({ code: 'CONFIG_ERR_INVALID' });
      }
      expect(message, url).not.toBe('');
      expect(message).not.toContain('secret');
    }
    expect(() => new SmtpMailSender({ url: 'smtp://h', from: 'nobody' })).toThrow(/From/);
    expect(() => new SmtpMailSender({ url: 'smtp://h', from: 'A <a@b.test>\r\nBcc: x@y.test' })).toThrow(
      /From/,
    );
  });
});
