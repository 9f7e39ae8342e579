import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';

/**
 * The auth block over HTTP, on SQLite and PostgreSQL: sign-up → verify (captured mail) → sign-in
 * with a cookie and with tokens → refresh; rules with @auth.id; API keys; and the attacks the
 * issue names (token forgery, refresh reuse, session fixation, CSRF, user enumeration, revocation).
 */
const PASSWORD = 'correct horse battery';

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function cookieOf(response: { headers: Headers }): string {
  const set = response.headers.get('set-cookie') ?? '';
  return set.split(';')[0] ?? '';
}

for (const target of dataTargets()) {
  describe.runIf(target.available)(`auth over HTTP (${target.name})`, () => {
    let c: DataClient;
    const anon = { auth: false } as const;

    async function mailTo(email: string): Promise<string> {
      const mails = await c.api('GET', `/api/v1/admin/mail?to=${encodeURIComponent(email)}`);
      expect(mails.status).toBe(200);
      const text = String(mails.body.items.at(-1)?.text ?? '');
      const token = /gwm_[A-Za-z0-9_-]{43}/.exec(text)?.[0];
      expect(token, text).toBeDefined();
      return token!;
    }

    async function signUp(email: string, extra: Record<string, unknown> = {}) {
      return c.api(
        'POST',
        '/api/v1/collections/users/auth/sign-up',
        { email, password: PASSWORD, ...extra },
        anon,
      );
    }

    async function tokens(email: string, password = PASSWORD) {
      const r = await c.api('POST', '/api/v1/collections/users/auth/sign-in', { email, password }, anon);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as { access_token: string; refresh_token: string; user: { id: string } };
    }

    async function cookie(email: string, headers: Record<string, string> = {}) {
      const r = await c.api(
        'POST',
        '/api/v1/collections/users/auth/sign-in',
        { email, password: PASSWORD, session: 'cookie' },
        { auth: false, headers },
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return {
        cookie: cookieOf(r),
        csrf: String(r.body.csrfToken),
        set: r.headers.get('set-cookie') ?? '',
        id: r.body.user.id as string,
      };
    }

    const me = (headers: Record<string, string>) =>
      c.api('GET', '/api/v1/collections/users/auth/me', undefined, { auth: false, headers });

    beforeAll(async () => {
      // Info level: the access log is checked too (caller ids in, credentials out).
      c = await startDataPlatform(await target.url(), { log: { level: 'info' } });
      const users = await c.api('POST', '/api/v1/collections', {
        name: 'users',
        type: 'auth',
        fields: [{ name: 'display_name', type: 'text', max: 80 }],
        rules: {
          list: 'id = @auth.id',
          view: 'id = @auth.id',
          create: '',
          update: 'id = @auth.id',
          delete: null,
        },
      });
      expect(users.status, JSON.stringify(users.body)).toBe(201);
      const notes = await c.api('POST', '/api/v1/collections', {
        name: 'notes',
        fields: [
          { name: 'title', type: 'text', required: true },
          { name: 'owner', type: 'relation', collection: 'users', required: true, onDelete: 'cascade' },
        ],
        rules: {
          list: 'owner = @auth.id',
          view: 'owner = @auth.id',
          create: 'owner = @auth.id',
          update: 'owner = @auth.id',
          delete: 'owner = @auth.id',
        },
      });
      expect(notes.status, JSON.stringify(notes.body)).toBe(201);
    });
    afterAll(() => c?.close());

    it('a refresh token works only at its own collection; elsewhere it is refused and stays unspent', async () => {
      await signUp('scoped-refresh@example.com');
      await c.api(
        'POST',
        '/api/v1/collections/users/auth/verification/confirm',
        {
          token: await mailTo('scoped-refresh@example.com'),
        },
        anon,
      );
      const t = await tokens('scoped-refresh@example.com');
      const other = await c.api('POST', '/api/v1/collections', { name: 'staff', type: 'auth', fields: [] });
      expect(other.status, JSON.stringify(other.body)).toBe(201);
      const wrong = await c.api(
        'POST',
        '/api/v1/collections/staff/auth/refresh',
        { refresh_token: t.refresh_token },
        anon,
      );
      expect(wrong.status).toBe(401);
      expect(wrong.body.code).toBe('AUTH_ERR_INVALID_REFRESH_TOKEN');
      const right = await c.api(
        'POST',
        '/api/v1/collections/users/auth/refresh',
        { refresh_token: t.refresh_token },
        anon,
      );
      expect(right.status, JSON.stringify(right.body)).toBe(200);
      expect(right.body.user.id).toBe(t.user.id);
    });

    it('answers holding credentials are never kept for Idempotency-Key replays', async () => {
      await signUp('replay@example.com');
      await c.api(
        'POST',
        '/api/v1/collections/users/auth/verification/confirm',
        {
          token: await mailTo('replay@example.com'),
        },
        anon,
      );
      const headers = { 'idempotency-key': 'sign-in-replay-0001' };
      const signIn = () =>
        c.api(
          'POST',
          '/api/v1/collections/users/auth/sign-in',
          { email: 'replay@example.com', password: PASSWORD },
          { auth: false, headers },
        );
      const first = await signIn();
      const second = await signIn();
      expect([first.status, second.status]).toEqual([200, 200]);
      // Both ran: two token families, and no replay header.
      expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
      expect(second.headers.get('idempotent-replayed')).toBeNull();

      const keyHeaders = { 'idempotency-key': 'admin-key-replay-0001' };
      const k1 = await c.api('POST', '/api/v1/admin/keys', { name: 'replay-1' }, { headers: keyHeaders });
      const k2 = await c.api('POST', '/api/v1/admin/keys', { name: 'replay-1' }, { headers: keyHeaders });
      expect([k1.status, k2.status]).toEqual([201, 201]);
      expect(k2.body.key).not.toBe(k1.body.key);

      // A route without a credential in its answer still replays (the policy is on).
      const noteHeaders = {
        'idempotency-key': 'note-replay-0001',
        authorization: `Bearer ${first.body.access_token}`,
      };
      const n1 = await c.api(
        'POST',
        '/api/v1/collections/notes/records',
        { title: 'once', owner: first.body.user.id },
        { auth: false, headers: noteHeaders },
      );
      const n2 = await c.api(
        'POST',
        '/api/v1/collections/notes/records',
        { title: 'once', owner: first.body.user.id },
        { auth: false, headers: noteHeaders },
      );
      expect([n1.status, n2.status]).toEqual([201, 201]);
      expect(n2.body.id).toBe(n1.body.id);
    });

    it('sign-up → verify by captured mail → sign-in (tokens) → refresh → me', async () => {
      const up = await signUp('Alice@Example.com', { display_name: 'Alice' });
      expect(up.status).toBe(202);
      const token = await mailTo('alice@example.com');
      expect(
        (await c.api('POST', '/api/v1/collections/users/auth/verification/confirm', { token }, anon)).status,
      ).toBe(204);
      // Single use.
      const again = await c.api(
        'POST',
        '/api/v1/collections/users/auth/verification/confirm',
        { token },
        anon,
      );
      expect(again.status).toBe(400);
      expect(again.body.code).toBe('AUTH_ERR_INVALID_MAIL_TOKEN');

      const t = await tokens('alice@example.com');
      expect(t.user).toMatchObject({ email: 'alice@example.com', verified: true, display_name: 'Alice' });
      const who = await me({ authorization: `Bearer ${t.access_token}` });
      expect(who.status).toBe(200);
      expect(who.body.user.id).toBe(t.user.id);

      const refreshed = await c.api(
        'POST',
        '/api/v1/collections/users/auth/refresh',
        { refresh_token: t.refresh_token },
        anon,
      );
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.refresh_token).not.toBe(t.refresh_token);
      expect((await me({ authorization: `Bearer ${refreshed.body.access_token}` })).status).toBe(200);
    });

    it('refresh-token reuse revokes the whole family, access tokens included', async () => {
      await signUp('reuse@example.com');
      const first = await tokens('reuse@example.com');
      const second = await c.api(
        'POST',
        '/api/v1/collections/users/auth/refresh',
        { refresh_token: first.refresh_token },
        anon,
      );
      expect(second.status).toBe(200);
      // The spent token again: refused, and the family is gone.
      const reuse = await c.api(
        'POST',
        '/api/v1/collections/users/auth/refresh',
        { refresh_token: first.refresh_token },
        anon,
      );
      expect(reuse.status).toBe(401);
      const newest = await c.api(
        'POST',
        '/api/v1/collections/users/auth/refresh',
        { refresh_token: second.body.refresh_token },
        anon,
      );
      expect(newest.status).toBe(401);
      expect((await me({ authorization: `Bearer ${second.body.access_token}` })).status).toBe(401);
    });

    it('forged access tokens are refused: alg none, HS256 with the public key, bad signature, garbage', async () => {
      await signUp('forge@example.com');
      const t = await tokens('forge@example.com');
      const [header, payload] = t.access_token.split('.') as [string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const jwks = await c.api('GET', '/.well-known/jwks.json', undefined, anon);
      expect(jwks.status).toBe(200);
      expect(jwks.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(jwks.body.keys[0].d).toBeUndefined();
      const kid = JSON.parse(Buffer.from(header, 'base64url').toString()).kid;
      const none = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${payload}.`;
      const hsHeader = b64({ alg: 'HS256', typ: 'at+jwt', kid });
      const hsSig = createHmac('sha256', JSON.stringify(jwks.body.keys[0]))
        .update(`${hsHeader}.${payload}`)
        .digest('base64url');
      const otherUser = `${header}.${b64({ ...claims, sub: 'someone-else' })}.${t.access_token.split('.')[2]}`;
      for (const token of [
        none,
        `${hsHeader}.${payload}.${hsSig}`,
        otherUser,
        'a.b.c',
        `${t.access_token}x`,
      ]) {
        const r = await me({ authorization: `Bearer ${token}` });
        expect(r.status, token).toBe(401);
        expect(r.body.code).toBe('AUTH_ERR_INVALID_CREDENTIALS');
      }
      expect((await me({ authorization: `Bearer ${t.access_token}` })).status).toBe(200);
    });

    it('cookie sessions: flags, rotation on sign-in (fixation), sign-out ends the session', async () => {
      await signUp('cookie@example.com');
      const s1 = await cookie('cookie@example.com');
      expect(s1.set).toMatch(/^gw_session=[A-Za-z0-9_-]{43}; /);
      expect(s1.set).toContain('HttpOnly');
      expect(s1.set).toContain('SameSite=Lax');
      expect(s1.set).toContain('Path=/');
      expect(s1.set).not.toContain('Secure'); // plain HTTP here; `__Host-` + Secure on TLS (unit-tested)
      expect((await me({ cookie: s1.cookie })).status).toBe(200);
      // Signing in again while carrying a session (or one an attacker planted) gives a new id and ends the old.
      const s2 = await cookie('cookie@example.com', { cookie: s1.cookie, origin: c.gw.url });
      expect(s2.cookie).not.toBe(s1.cookie);
      expect((await me({ cookie: s1.cookie })).status).toBe(401);
      expect((await me({ cookie: s2.cookie })).status).toBe(200);
      const out = await c.api('POST', '/api/v1/collections/users/auth/sign-out', undefined, {
        auth: false,
        headers: { cookie: s2.cookie, origin: c.gw.url },
      });
      expect(out.status).toBe(204);
      expect((await me({ cookie: s2.cookie })).status).toBe(401);
    });

    it('CSRF: a cookie-authenticated write from another site is refused; same origin, token or bearer pass', async () => {
      await signUp('csrf@example.com');
      const s = await cookie('csrf@example.com');
      const note = (headers: Record<string, string>) =>
        c.api(
          'POST',
          '/api/v1/collections/notes/records',
          { title: 'x', owner: s.id },
          { auth: false, headers },
        );
      const crossSite: Record<string, string>[] = [
        { cookie: s.cookie },
        { cookie: s.cookie, origin: 'https://evil.example' },
        { cookie: s.cookie, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
        { cookie: s.cookie, 'sec-fetch-site': 'same-site' },
        { cookie: s.cookie, origin: 'null' },
        { cookie: s.cookie, 'x-csrf-token': `${s.csrf}x` },
      ];
      for (const headers of crossSite) {
        const r = await note(headers);
        expect(r.status, JSON.stringify(headers)).toBe(403);
        expect(r.body.code).toBe('AUTH_ERR_CSRF');
      }
      expect((await note({ cookie: s.cookie, origin: c.gw.url })).status).toBe(201);
      expect((await note({ cookie: s.cookie, 'sec-fetch-site': 'same-origin' })).status).toBe(201);
      expect((await note({ cookie: s.cookie, 'x-csrf-token': s.csrf })).status).toBe(201);
      // Reads are not state changes: no check.
      expect(
        (
          await c.api('GET', '/api/v1/collections/notes/records', undefined, {
            auth: false,
            headers: { cookie: s.cookie },
          })
        ).status,
      ).toBe(200);
      // Bearer requests are exempt (a cross-site page cannot attach an Authorization header).
      const t = await tokens('csrf@example.com');
      expect(
        (await note({ authorization: `Bearer ${t.access_token}`, origin: 'https://evil.example' })).status,
      ).toBe(201);
    });

    it('no user enumeration: sign-up, sign-in and mail requests answer alike for known and unknown emails', async () => {
      await signUp('known@example.com');
      const [a, b] = [await signUp('known@example.com'), await signUp('unknown-1@example.com')];
      expect(a.status).toBe(b.status);
      expect(a.body).toEqual(b.body);
      const wrong = await c.api(
        'POST',
        '/api/v1/collections/users/auth/sign-in',
        { email: 'known@example.com', password: 'wrong password' },
        anon,
      );
      const nobody = await c.api(
        'POST',
        '/api/v1/collections/users/auth/sign-in',
        { email: 'nobody@example.com', password: 'wrong password' },
        anon,
      );
      expect(wrong.status).toBe(401);
      expect(nobody.status).toBe(401);
      expect({ ...wrong.body, requestId: undefined }).toEqual({
        ...nobody.body,
        requestId: undefined,
      });
      for (const path of ['password-reset/request', 'verification/request']) {
        const x = await c.api(
          'POST',
          `/api/v1/collections/users/auth/${path}`,
          { email: 'known@example.com' },
          anon,
        );
        const y = await c.api(
          'POST',
          `/api/v1/collections/users/auth/${path}`,
          { email: 'nobody@example.com' },
          anon,
        );
        expect(x.status).toBe(202);
        expect(y.status).toBe(202);
        expect(x.body).toEqual(y.body);
      }
    });

    it('password change revokes the other sessions and token families, not the current one', async () => {
      await signUp('change@example.com');
      const current = await cookie('change@example.com');
      const other = await cookie('change@example.com');
      const t = await tokens('change@example.com');
      const r = await c.api(
        'POST',
        '/api/v1/collections/users/auth/password',
        { currentPassword: PASSWORD, password: 'a brand new password' },
        { auth: false, headers: { cookie: current.cookie, origin: c.gw.url } },
      );
      expect(r.status, JSON.stringify(r.body)).toBe(204);
      expect((await me({ cookie: current.cookie })).status).toBe(200);
      expect((await me({ cookie: other.cookie })).status).toBe(401);
      const refresh = await c.api(
        'POST',
        '/api/v1/collections/users/auth/refresh',
        { refresh_token: t.refresh_token },
        anon,
      );
      expect(refresh.status).toBe(401);
      expect((await tokens('change@example.com', 'a brand new password')).access_token).toBeTruthy();
    });

    it('password reset by mailed token', async () => {
      await signUp('reset@example.com');
      const s = await cookie('reset@example.com');
      await c.api(
        'POST',
        '/api/v1/collections/users/auth/password-reset/request',
        { email: 'reset@example.com' },
        anon,
      );
      // The mail is sent in the background: wait for it.
      let token: string | undefined;
      for (let i = 0; i < 100 && token === undefined; i++) {
        const mails = await c.api('GET', '/api/v1/admin/mail?to=reset%40example.com');
        const text = mails.body.items
          .map((m: { subject: string; text: string }) => (m.subject.startsWith('Reset') ? m.text : ''))
          .join('');
        token = /gwm_[A-Za-z0-9_-]{43}/.exec(text)?.[0];
        if (token === undefined) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(token).toBeDefined();
      const done = await c.api(
        'POST',
        '/api/v1/collections/users/auth/password-reset/confirm',
        { token, password: 'reset password 2' },
        anon,
      );
      expect(done.status).toBe(204);
      expect((await me({ cookie: s.cookie })).status).toBe(401);
      expect((await tokens('reset@example.com', 'reset password 2')).access_token).toBeTruthy();
    });

    it('a disabled user is refused at once: sessions, access tokens and API keys', async () => {
      await signUp('disabled@example.com');
      const s = await cookie('disabled@example.com');
      const t = await tokens('disabled@example.com');
      const key = await c.api(
        'POST',
        '/api/v1/collections/users/auth/keys',
        { name: 'k', scopes: ['notes:*'] },
        { auth: false, headers: { authorization: `Bearer ${t.access_token}` } },
      );
      expect(key.status, JSON.stringify(key.body)).toBe(201);
      const r = await c.api('POST', `/api/v1/admin/collections/users/users/${s.id}/disable`);
      expect(r.status).toBe(204);
      expect((await me({ cookie: s.cookie })).status).toBe(401);
      expect((await me({ authorization: `Bearer ${t.access_token}` })).status).toBe(401);
      expect((await me({ authorization: `Bearer ${key.body.key}` })).status).toBe(401);
      const signIn = await c.api(
        'POST',
        '/api/v1/collections/users/auth/sign-in',
        { email: 'disabled@example.com', password: PASSWORD },
        anon,
      );
      expect(signIn.status).toBe(401);
    });

    it('rules with @auth.id: a user sees only their own records; scoped API keys', async () => {
      await signUp('owner-a@example.com');
      await signUp('owner-b@example.com');
      const a = await tokens('owner-a@example.com');
      const b = await tokens('owner-b@example.com');
      const as = (t: { access_token: string }) => ({
        auth: false,
        headers: { authorization: `Bearer ${t.access_token}` },
      });
      expect(
        (await c.api('POST', '/api/v1/collections/notes/records', { title: 'a1', owner: a.user.id }, as(a)))
          .status,
      ).toBe(201);
      expect(
        (await c.api('POST', '/api/v1/collections/notes/records', { title: 'b1', owner: b.user.id }, as(b)))
          .status,
      ).toBe(201);
      // Creating a note owned by someone else fails the create rule.
      expect(
        (await c.api('POST', '/api/v1/collections/notes/records', { title: 'x', owner: b.user.id }, as(a)))
          .status,
      ).toBe(403);
      const listA = await c.api('GET', '/api/v1/collections/notes/records', undefined, as(a));
      expect(listA.body.items.map((n: { title: string }) => n.title)).toEqual(['a1']);
      // Users see only themselves in the users collection, and cannot verify themselves.
      const usersA = await c.api('GET', '/api/v1/collections/users/records', undefined, as(a));
      expect(usersA.body.items.map((u: { id: string }) => u.id)).toEqual([a.user.id]);
      const selfVerify = await c.api(
        'PATCH',
        `/api/v1/collections/users/records/${a.user.id}`,
        { verified: true },
        as(a),
      );
      expect(selfVerify.status).toBe(403);
      expect(selfVerify.body.code).toBe('DATA_ERR_AUTH_FIELD');
      // A read-only key: lists work, writes and other collections are outside its scopes.
      const key = await c.api(
        'POST',
        '/api/v1/collections/users/auth/keys',
        { name: 'ro', scopes: ['notes:list', 'notes:view'] },
        as(a),
      );
      expect(key.status).toBe(201);
      const k = { auth: false, headers: { authorization: `Bearer ${key.body.key}` } };
      expect((await c.api('GET', '/api/v1/collections/notes/records', undefined, k)).body.items).toHaveLength(
        1,
      );
      const write = await c.api(
        'POST',
        '/api/v1/collections/notes/records',
        { title: 'k', owner: a.user.id },
        k,
      );
      expect(write.status).toBe(403);
      expect(write.body.code).toBe('AUTH_ERR_SCOPE');
      expect((await c.api('GET', '/api/v1/collections/users/records', undefined, k)).body.code).toBe(
        'AUTH_ERR_SCOPE',
      );
      // A key cannot manage the account (mint keys, change the password).
      expect(
        (await c.api('POST', '/api/v1/collections/users/auth/keys', { name: 'x', scopes: ['*:*'] }, k))
          .status,
      ).toBe(403);
    });

    it('a scoped admin key bypasses rules but only within its scopes, and cannot use admin routes', async () => {
      const created = await c.api('POST', '/api/v1/admin/keys', { name: 'reader', scopes: ['notes:list'] });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.scopes).toEqual(['notes:list']);
      const k = { auth: false, headers: { authorization: `Bearer ${created.body.key}` } } as const;
      const list = await c.api('GET', '/api/v1/collections/notes/records', undefined, k);
      expect(list.status).toBe(200);
      expect(list.body.items.length).toBeGreaterThan(0); // every user's notes: admins bypass rules
      expect((await c.api('GET', '/api/v1/collections/users/records', undefined, k)).body.code).toBe(
        'AUTH_ERR_SCOPE',
      );
      expect((await c.api('GET', '/api/v1/admin/keys', undefined, k)).status).toBe(403);
      expect((await c.api('GET', '/api/v1/collections', undefined, k)).status).toBe(403);
      const bad = await c.api('POST', '/api/v1/admin/keys', { name: 'x', scopes: ['notes:drop'] });
      expect(bad.status).toBe(400);
    });

    it('deleting a user (records API) removes their credentials and ends their sessions', async () => {
      await signUp('gone@example.com');
      const s = await cookie('gone@example.com');
      expect((await c.api('DELETE', `/api/v1/collections/users/records/${s.id}`)).status).toBe(204);
      expect((await me({ cookie: s.cookie })).status).toBe(401);
      const signIn = await c.api(
        'POST',
        '/api/v1/collections/users/auth/sign-in',
        { email: 'gone@example.com', password: PASSWORD },
        anon,
      );
      expect(signIn.status).toBe(401);
    });

    it('the access log names the caller and never holds a credential', async () => {
      await signUp('logged@example.com');
      const t = await tokens('logged@example.com');
      const s = await cookie('logged@example.com');
      expect((await me({ authorization: `Bearer ${t.access_token}` })).status).toBe(200);
      expect((await me({ cookie: s.cookie })).status).toBe(200);
      const lines = c.gw
        .logs()
        .filter((l) => l.msg === 'request' && l.route === '/api/v1/collections/:collection/auth/me');
      const callers = lines.map((l) => l.caller);
      expect(callers).toContain(`user:users/${t.user.id} (token)`);
      expect(callers).toContain(`user:users/${t.user.id} (session)`);
      const all = JSON.stringify(c.gw.logs());
      for (const secret of [t.access_token, t.refresh_token, s.cookie.split('=')[1]!, PASSWORD, c.adminKey])
        expect(all.includes(secret), 'a credential reached the log').toBe(false);
    });

    it('property: arbitrary Authorization headers and cookies never cause a 5xx', async () => {
      const header = fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.string({ maxLength: 200 }).map((s) => `Bearer ${s}`),
        fc
          .tuple(fc.base64String(), fc.base64String(), fc.base64String())
          .map(([a, b, d]) => `Bearer ${a}.${b}.${d}`),
        fc.string({ maxLength: 60 }).map((s) => `Bearer gwk_${s}`),
      );
      const cookieValue = fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.string({ maxLength: 60 }).map((s) => `gw_session=${s}`),
        fc.base64String({ minLength: 40, maxLength: 48 }).map((s) => `gw_session=${s}; gw_session=x`),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.option(header),
          fc.option(cookieValue),
          fc.constantFrom('GET', 'POST'),
          async (auth, ck, method) => {
            const headers: Record<string, string> = {};
            // Headers that undici refuses to send are not something a server can receive.
            const printable = (s: string) => /^[\t\x20-\x7e]*$/.test(s);
            if (auth !== null && printable(auth)) headers.authorization = auth;
            if (ck !== null && printable(ck)) headers.cookie = ck;
            const r = await c.api(
              method,
              '/api/v1/collections/notes/records',
              method === 'POST' ? { title: 't' } : undefined,
              { auth: false, headers },
            );
            expect(r.status).toBeLessThan(500);
          },
        ),
        { numRuns: 150 },
      );
    });
  });
}
