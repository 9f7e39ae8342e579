import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemorySignInGuardStore } from '../../src/auth/sign-in-guard/drivers/memory-sign-in-guard-store.js';
import { SignInGuard } from '../../src/auth/sign-in-guard/sign-in-guard.js';
import { type GroundworkError, toProblem } from '../../src/core/errors.js';
import { type ApiResponse, type DataClient, dataTargets, startDataPlatform } from '../support/data-api.js';
import { contractOf, type Doc, routeOf, validateDocument } from '../support/openapi-contract.js';

/**
 * The auth routes in the live OpenAPI document, on SQLite and PostgreSQL: every route the auth
 * block registers is documented with the security it enforces, and the real auth flow (captured
 * mail, tokens, cookie + CSRF, keys, sessions, throttling, idempotency, admin routes) answers only
 * what the document says: status, required headers, body schema and problem code.
 */
const PASSWORD = 'correct horse battery';
const UNKNOWN_ID = '0190a0b0-0000-7000-8000-000000000000';
const anon = { auth: false } as const;

/** Every route of src/auth/http and auth-api.ts, as the server registers them. */
const COLLECTION_ROUTES = [
  ['POST', 'sign-up'],
  ['POST', 'sign-in'],
  ['POST', 'refresh'],
  ['POST', 'sign-out'],
  ['GET', 'me'],
  ['POST', 'password'],
  ['POST', 'password-reset/request'],
  ['POST', 'password-reset/confirm'],
  ['POST', 'verification/request'],
  ['POST', 'verification/confirm'],
  ['GET', 'sessions'],
  ['DELETE', 'sessions/{id}'],
  ['GET', 'keys'],
  ['POST', 'keys'],
  ['DELETE', 'keys/{id}'],
] as const;
const ADMIN_ROUTES = ['disable', 'enable', 'revoke'] as const;

function cookieOf(response: { headers: Headers }): string {
  return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

for (const target of dataTargets()) {
  describe.runIf(target.available)(`OpenAPI: auth routes (${target.name})`, () => {
    let c: DataClient;
    let doc: Doc;
    let contract: ReturnType<typeof contractOf>;
    const auth = (name: string, route: string) => `/api/v1/collections/${name}/auth/${route}`;
    const u = (route: string) => auth('users', route);
    const adminUser = (id: string, action: string) => `/api/v1/admin/collections/users/users/${id}/${action}`;
    const call = async (
      method: string,
      path: string,
      template: string,
      body?: unknown,
      options?: { headers?: Record<string, string>; auth?: boolean },
    ): Promise<ApiResponse> => {
      const res = await c.api(method, path, body, options);
      contract.check(method, template, res);
      return res;
    };
    /** A call to a concrete documented path, anonymous unless `headers` carry credentials. */
    const as = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      call(method, path, path, body, { auth: false, headers });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    /** The newest mailed token to `email` in a mail whose subject matches (mails go out in the background). */
    async function mailedToken(email: string, subject: RegExp, seen = new Set<string>()): Promise<string> {
      return vi.waitFor(
        async () => {
          const mails = await call(
            'GET',
            `/api/v1/admin/mail?to=${encodeURIComponent(email)}`,
            '/api/v1/admin/mail',
          );
          expect(mails.status).toBe(200);
          const mail = [...mails.body.items]
            .reverse()
            .find((m: { id: string; subject: string }) => subject.test(m.subject) && !seen.has(m.id));
          const token = /gwm_[A-Za-z0-9_-]{43}/.exec(String(mail?.text ?? ''))?.[0];
          expect(token, JSON.stringify(mails.body.items)).toBeDefined();
          seen.add(mail.id);
          return token!;
        },
        { timeout: 5_000, interval: 20 },
      );
    }

    async function signUp(email: string, extra: Record<string, unknown> = {}) {
      const r = await as('POST', u('sign-up'), { email, password: PASSWORD, ...extra });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
    }

    async function tokens(email: string, password = PASSWORD) {
      const r = await as('POST', u('sign-in'), { email, password });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as { access_token: string; refresh_token: string; user: { id: string } };
    }

    async function cookieSession(email: string) {
      const r = await as('POST', u('sign-in'), { email, password: PASSWORD, session: 'cookie' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return { cookie: cookieOf(r), csrf: String(r.body.csrfToken), id: String(r.body.user.id) };
    }

    beforeAll(async () => {
      c = await startDataPlatform(await target.url());
      for (const collection of [
        {
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
        },
        // Sign-up is for admins only here (create rule null).
        { name: 'members', type: 'auth', fields: [] },
        { name: 'notes', fields: [{ name: 'title', type: 'text' }] },
      ]) {
        const res = await c.api('POST', '/api/v1/collections', collection);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const res = await c.api('GET', '/api/v1/openapi.json');
      expect(res.status).toBe(200);
      doc = res.body;
      contract = contractOf(doc);
    });
    afterAll(() => c?.close());

    it('documents every auth route, only routes the server has, with the security each enforces', async () => {
      expect(await validateDocument(doc)).toEqual({ valid: true });
      const app = c.gw.platform.app;
      for (const name of ['users', 'members']) {
        for (const [method, route] of COLLECTION_ROUTES)
          expect(
            doc.paths[auth(name, route)]?.[method.toLowerCase()],
            `${method} ${name} ${route}`,
          ).toBeDefined();
        for (const action of ADMIN_ROUTES)
          expect(doc.paths[`/api/v1/admin/collections/${name}/users/{id}/${action}`]?.post).toBeDefined();
      }
      expect(doc.paths[auth('notes', 'sign-in')]).toBeUndefined(); // not an auth collection
      expect(doc.paths['/api/v1/admin/mail'].get).toBeDefined();
      expect(doc.paths['/.well-known/jwks.json'].get).toBeDefined();
      for (const [path, item] of Object.entries<Doc>(doc.paths))
        for (const method of Object.keys(item).filter((m) => m !== 'parameters'))
          expect(
            app.hasRoute({ method: method.toUpperCase() as 'GET', url: routeOf(path) }),
            `${method} ${path}`,
          ).toBe(true);

      const ids = new Set<string>();
      for (const [path, item] of Object.entries<Doc>(doc.paths))
        for (const [method, op] of Object.entries<Doc>(item)) {
          if (method === 'parameters') continue;
          expect(ids.has(op.operationId), op.operationId).toBe(false);
          ids.add(op.operationId);
          for (const status of ['401', '429', '500', '503'])
            expect(op.responses[status], `${method} ${path} ${status}`).toBeDefined();
        }

      const security = (method: string, path: string) => doc.paths[path][method].security;
      const token = { accessToken: [] };
      const cookie = { sessionCookie: [] };
      const key = { bearerAuth: [] };
      expect(security('post', u('sign-in'))).toEqual([]);
      expect(security('post', u('sign-up'))).toEqual([]);
      expect(security('post', auth('members', 'sign-up'))).toEqual([key]);
      expect(security('get', u('me'))).toEqual([token, cookie, key]);
      for (const [method, route] of [
        ['post', 'password'],
        ['get', 'sessions'],
        ['delete', 'sessions/{id}'],
        ['get', 'keys'],
        ['post', 'keys'],
        ['delete', 'keys/{id}'],
      ])
        expect(security(method!, u(route!)), route).toEqual([token, cookie]);
      expect(security('post', u('sign-out'))).toEqual([{}, token, cookie]);
      expect(security('post', adminUser('{id}', 'disable'))).toEqual([key]);
      expect(security('get', '/api/v1/admin/mail')).toEqual([key]);
      expect(security('get', '/.well-known/jwks.json')).toEqual([]);
      expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
        'accessToken',
        'bearerAuth',
        'sessionCookie',
      ]);
      const unsafe = doc.paths[u('password')].post;
      expect(unsafe.parameters.map((p: Doc) => p.name ?? p.$ref)).toEqual([
        'X-CSRF-Token',
        '#/components/parameters/IdempotencyKey',
      ]);
      expect(unsafe.responses['403']['x-groundwork-codes']).toContain('AUTH_ERR_CSRF');
      expect(doc.paths[u('sign-in')].post.responses['423']['x-groundwork-codes']).toEqual([
        'AUTH_ERR_ACCOUNT_LOCKED',
      ]);

      // Request schemas are the routes' own zod schemas (sign-up adds the collection's fields).
      const accepts = (path: string, body: unknown) => contract.acceptsBody('POST', path, body);
      expect(accepts(u('sign-in'), { email: 'a@example.com', password: 'x', session: 'cookie' })).toBe(true);
      expect(accepts(u('sign-in'), { email: 'a@example.com', password: 'x', session: 'jwt' })).toBe(false);
      expect(accepts(u('sign-in'), { email: 'a@example.com', password: 'x', extra: 1 })).toBe(false);
      expect(accepts(u('sign-up'), { email: 'a@example.com', password: PASSWORD, display_name: 'A' })).toBe(
        true,
      );
      expect(accepts(u('sign-up'), { email: 'a@example.com', password: 'short' })).toBe(false);
      expect(accepts(u('sign-up'), { email: 'a@example.com', password: PASSWORD, verified: true })).toBe(
        false,
      );
      expect(accepts(u('keys'), { name: 'k', scopes: ['notes:list'] })).toBe(true);
      expect(accepts(u('keys'), { name: 'k', scopes: ['notes:read'] })).toBe(false);
      expect(accepts(u('refresh'), {})).toBe(false);
    });

    it('sign-up → verification → sign-in (tokens, cookie) → refresh → sign-out match the document', async () => {
      await signUp('ann@example.com', { display_name: 'Ann' });
      const invalid = await as('POST', u('sign-up'), { email: 'x@example.com', password: 'short' });
      expect(invalid.body.code).toBe('HTTP_ERR_VALIDATION');
      const field = await as('POST', u('sign-up'), {
        email: 'x@example.com',
        password: PASSWORD,
        display_name: 'x'.repeat(81),
      });
      expect(field.body.code).toBe('DATA_ERR_VALIDATION');
      const managed = await as('POST', u('sign-up'), {
        email: 'x@example.com',
        password: PASSWORD,
        verified: true,
      });
      expect(managed.status).toBe(403);
      expect(managed.body.code).toBe('DATA_ERR_AUTH_FIELD');
      expect((await as('POST', u('sign-in'), '{"email":')).body.code).toBe('HTTP_ERR_INVALID_BODY');
      const closed = await as('POST', auth('members', 'sign-up'), {
        email: 'm@example.com',
        password: PASSWORD,
      });
      expect(closed.body.code).toBe('AUTH_ERR_UNAUTHENTICATED');
      const byAdmin = await call('POST', auth('members', 'sign-up'), auth('members', 'sign-up'), {
        email: 'm@example.com',
        password: PASSWORD,
      });
      expect(byAdmin.status).toBe(202);

      const token = await mailedToken('ann@example.com', /^Verify/);
      expect((await as('POST', u('verification/confirm'), { token })).status).toBe(204);
      const spent = await as('POST', u('verification/confirm'), { token });
      expect(spent.body.code).toBe('AUTH_ERR_INVALID_MAIL_TOKEN');
      expect((await as('POST', u('verification/request'), { email: 'ann@example.com' })).status).toBe(202);
      expect((await as('POST', u('verification/request'), { email: 42 })).status).toBe(400);

      const t = await tokens('ann@example.com');
      expect(t.user).toMatchObject({ email: 'ann@example.com', verified: true, display_name: 'Ann' });
      const wrong = await as('POST', u('sign-in'), { email: 'ann@example.com', password: 'wrong password' });
      expect(wrong.status).toBe(401);
      expect(wrong.body.code).toBe('AUTH_ERR_INVALID_CREDENTIALS');
      const s = await cookieSession('ann@example.com');
      expect(s.cookie).toMatch(/^gw_session=/);

      const refreshed = await as('POST', u('refresh'), { refresh_token: t.refresh_token });
      expect(refreshed.status).toBe(200);
      const reused = await as('POST', u('refresh'), { refresh_token: t.refresh_token });
      expect(reused.status).toBe(401);
      expect(reused.body.code).toBe('AUTH_ERR_INVALID_REFRESH_TOKEN');

      const again = await tokens('ann@example.com');
      expect((await as('POST', u('sign-out'), { refresh_token: again.refresh_token })).status).toBe(204);
      expect((await as('POST', u('refresh'), { refresh_token: again.refresh_token })).status).toBe(401);
      const out = await as('POST', u('sign-out'), undefined, { cookie: s.cookie, 'x-csrf-token': s.csrf });
      expect(out.status).toBe(204);
      expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
      expect((await as('POST', u('sign-out'))).status).toBe(204);
      expect((await as('GET', u('me'), undefined, { cookie: s.cookie })).status).toBe(401);

      await signUp('reset@example.com');
      const seen = new Set<string>();
      expect((await as('POST', u('password-reset/request'), { email: 'reset@example.com' })).status).toBe(
        202,
      );
      const reset = await mailedToken('reset@example.com', /^Reset/, seen);
      const weak = await as('POST', u('password-reset/confirm'), { token: reset, password: 'short' });
      expect(weak.body.code).toBe('HTTP_ERR_VALIDATION');
      const next = `${PASSWORD} 2`;
      expect((await as('POST', u('password-reset/confirm'), { token: reset, password: next })).status).toBe(
        204,
      );
      const used = await as('POST', u('password-reset/confirm'), { token: reset, password: next });
      expect(used.body.code).toBe('AUTH_ERR_INVALID_MAIL_TOKEN');
      await tokens('reset@example.com', next);
    });

    it('account routes: me, user API keys, sessions and password', async () => {
      await signUp('bea@example.com');
      const t = await tokens('bea@example.com');
      const s = await cookieSession('bea@example.com');
      const byToken = await as('GET', u('me'), undefined, bearer(t.access_token));
      expect(byToken.body.via).toBe('token');
      expect((await as('GET', u('me'), undefined, { cookie: s.cookie })).body.via).toBe('session');
      expect((await as('GET', u('me'))).body.code).toBe('AUTH_ERR_UNAUTHENTICATED');
      const admin = await call('GET', u('me'), u('me'));
      expect(admin.status).toBe(403);
      expect(admin.body.code).toBe('AUTH_ERR_FORBIDDEN');
      const otherCollection = await as('GET', auth('members', 'me'), undefined, bearer(t.access_token));
      expect(otherCollection.body.code).toBe('AUTH_ERR_FORBIDDEN');

      const created = await as(
        'POST',
        u('keys'),
        { name: 'ci', scopes: ['notes:list'] },
        bearer(t.access_token),
      );
      expect(created.status).toBe(201);
      const badScopes = await as(
        'POST',
        u('keys'),
        { name: 'ci', scopes: ['notes:read'] },
        bearer(t.access_token),
      );
      expect(badScopes.body.code).toBe('HTTP_ERR_VALIDATION');
      const listed = await as('GET', u('keys'), undefined, bearer(t.access_token));
      expect(listed.body.items.map((k: { id: string }) => k.id)).toEqual([created.body.id]);
      const viaKey = await as('GET', u('me'), undefined, bearer(created.body.key));
      expect(viaKey.body).toMatchObject({ via: 'key', scopes: ['notes:list'] });
      const keyRefused = await as(
        'POST',
        u('keys'),
        { name: 'wider', scopes: ['*:*'] },
        bearer(created.body.key),
      );
      expect(keyRefused.status).toBe(403);
      expect((await as('GET', u('sessions'), undefined, bearer(created.body.key))).status).toBe(403);
      const revokeKey = () =>
        call('DELETE', u(`keys/${created.body.id}`), u('keys/{id}'), undefined, {
          auth: false,
          headers: bearer(t.access_token),
        });
      expect((await revokeKey()).status).toBe(204);
      expect((await revokeKey()).body.code).toBe('HTTP_ERR_NOT_FOUND');

      const sessions = await as('GET', u('sessions'), undefined, { cookie: s.cookie });
      const mine = sessions.body.items.find((x: { current: boolean }) => x.current);
      expect(mine).toBeDefined();
      const session = u(`sessions/${mine.id}`);
      const crossSite = await call('DELETE', session, u('sessions/{id}'), undefined, {
        auth: false,
        headers: { cookie: s.cookie, origin: 'https://evil.example' },
      });
      expect(crossSite.status).toBe(403);
      expect(crossSite.body.code).toBe('AUTH_ERR_CSRF');
      const unknown = await call('DELETE', u(`sessions/${UNKNOWN_ID}`), u('sessions/{id}'), undefined, {
        auth: false,
        headers: bearer(t.access_token),
      });
      expect(unknown.status).toBe(404);
      const ended = await call('DELETE', session, u('sessions/{id}'), undefined, {
        auth: false,
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
      });
      expect(ended.status).toBe(204);

      const badCurrent = await as(
        'POST',
        u('password'),
        { currentPassword: 'not it', password: `${PASSWORD}!` },
        bearer(t.access_token),
      );
      expect(badCurrent.body.code).toBe('AUTH_ERR_INVALID_CREDENTIALS');
      const changed = await as(
        'POST',
        u('password'),
        { currentPassword: PASSWORD, password: `${PASSWORD}!` },
        bearer(t.access_token),
      );
      expect(changed.status).toBe(204);
      expect((await as('POST', u('password'), { currentPassword: PASSWORD })).status).toBe(401);
    });

    it('CSRF on sign-in, throttling, Idempotency-Key, admin user routes, mailbox and JWKS', async () => {
      await signUp('cat@example.com');
      const s = await cookieSession('cat@example.com');
      // Signing in while carrying a live session needs the same-site proof like any cookie write.
      const planted = await as(
        'POST',
        u('sign-in'),
        { email: 'cat@example.com', password: PASSWORD },
        { cookie: s.cookie },
      );
      expect(planted.body.code).toBe('AUTH_ERR_CSRF');

      let throttled: ApiResponse | undefined;
      for (let i = 0; i < 12 && !throttled; i++) {
        const r = await as('POST', u('sign-in'), { email: 'cat@example.com', password: 'guess' });
        if (r.status === 429) throttled = r;
        else expect(r.status).toBe(401);
      }
      expect(throttled?.body.code).toBe('AUTH_ERR_TOO_MANY_ATTEMPTS');
      expect(Number(throttled?.headers.get('retry-after'))).toBeGreaterThan(0);

      const once = { 'idempotency-key': '"auth-openapi-1"' };
      const body = { email: 'dan@example.com', password: PASSWORD };
      expect((await as('POST', u('sign-up'), body, once)).status).toBe(202);
      const replay = await as('POST', u('sign-up'), body, once);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      const reused = await as('POST', u('sign-up'), { ...body, display_name: 'Dan' }, once);
      expect(reused.status).toBe(422);

      const dan = await tokens('dan@example.com');
      const id = dan.user.id;
      const admin = (
        action: string,
        userId = id,
        options?: { auth?: boolean; headers?: Record<string, string> },
      ) => call('POST', adminUser(userId, action), adminUser('{id}', action), undefined, options);
      expect((await admin('disable')).status).toBe(204);
      expect((await as('GET', u('me'), undefined, bearer(dan.access_token))).status).toBe(401);
      expect((await as('POST', u('sign-in'), body)).status).toBe(401);
      expect((await admin('enable')).status).toBe(204);
      const back = await tokens('dan@example.com');
      expect((await admin('revoke')).status).toBe(204);
      expect((await as('GET', u('me'), undefined, bearer(back.access_token))).status).toBe(401);
      expect((await admin('disable', UNKNOWN_ID)).body.code).toBe('DATA_ERR_RECORD_NOT_FOUND');
      expect((await admin('enable', UNKNOWN_ID)).status).toBe(404);
      const fresh = await tokens('dan@example.com');
      const asUser = await admin('revoke', id, { auth: false, headers: bearer(fresh.access_token) });
      expect(asUser.body.code).toBe('AUTH_ERR_FORBIDDEN');
      expect((await admin('disable', id, anon)).body.code).toBe('AUTH_ERR_UNAUTHENTICATED');

      expect((await as('GET', '/api/v1/admin/mail')).status).toBe(401);
      const badQuery = await call('GET', '/api/v1/admin/mail?from=x', '/api/v1/admin/mail');
      expect(badQuery.body.code).toBe('HTTP_ERR_VALIDATION');
      const jwks = await as('GET', '/.well-known/jwks.json');
      expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
      const [header] = dan.access_token.split('.');
      const kid = JSON.parse(Buffer.from(header!, 'base64url').toString()).kid;
      expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toContain(kid);
    });

    it('a locked account (423) is documented as the guard sends it', async () => {
      // Locking takes ten failures spread over ~30 s of delays: driven here on a guard with its own clock.
      let now = 1_000_000;
      const guard = new SignInGuard({ store: new MemorySignInGuardStore(), clock: () => now, ip: false });
      let locked: GroundworkError | undefined;
      for (let i = 0; i < 30 && !locked; i++) {
        const admitted = await guard.admit({ collection: 'users', email: 'eve@example.com', ip: '' });
        if (admitted.ok) continue; // counted as a failure: no recordSuccess
        if (admitted.error.code === 'AUTH_ERR_ACCOUNT_LOCKED') locked = admitted.error;
        else now += Number(admitted.error.headers?.['retry-after']) * 1_000;
      }
      expect(locked).toBeDefined();
      contract.check('POST', u('sign-in'), {
        status: locked!.status,
        headers: new Headers({ ...locked!.headers, 'content-type': 'application/problem+json' }),
        body: toProblem(locked!, 'req-1'),
      });
    });

    it('a collection dropped after the document was read: 404 as documented; the new document drops it', async () => {
      expect((await c.api('DELETE', '/api/v1/collections/members')).status).toBe(204);
      const stale = await as('POST', auth('members', 'sign-in'), {
        email: 'm@example.com',
        password: PASSWORD,
      });
      expect(stale.status).toBe(404);
      expect(stale.body.code).toBe('AUTH_ERR_NOT_AUTH_COLLECTION');
      const after: Doc = (await c.api('GET', '/api/v1/openapi.json')).body;
      expect(after.paths[auth('members', 'sign-in')]).toBeUndefined();
      expect(after.components.schemas.MembersSignUp).toBeUndefined();
      expect(after.paths[u('sign-in')]).toBeDefined();
      expect(await validateDocument(after)).toEqual({ valid: true });
    });

    it('every auth operation of "users" was answered with a documented success', () => {
      const operations = Object.entries<Doc>(doc.paths)
        .filter(([path]) => path.includes('/users/auth/') || path.includes('/collections/users/users/'))
        .flatMap(([path, item]) =>
          Object.keys(item)
            .filter((m) => m !== 'parameters')
            .map((m) => `${m.toUpperCase()} ${path}`),
        );
      operations.push('GET /api/v1/admin/mail', 'GET /.well-known/jwks.json');
      expect(operations.length).toBe(COLLECTION_ROUTES.length + ADMIN_ROUTES.length + 2);
      for (const operation of operations)
        expect(
          [...contract.checked].some((done) => done.startsWith(`${operation} 2`)),
          operation,
        ).toBe(true);
      for (const status of ['400', '401', '403', '404', '422', '429'])
        expect(
          [...contract.checked].some((done) => done.endsWith(` ${status}`)),
          status,
        ).toBe(true);
    });
  });
}
