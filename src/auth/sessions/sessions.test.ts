import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clearSessionCookie, readCookie, readSessionCookie, setSessionCookie } from './session-cookie.js';
import type { SessionRecord, SessionStore } from './session-store.js';
import { csrfTokenMatches, Sessions, sessionIdOf } from './sessions.js';

/** An in-memory SessionStore: the logic under test is `Sessions`, not the SQL driver. */
class MemoryStore implements SessionStore {
  readonly rows = new Map<string, SessionRecord>();
  touches = 0;
  async create(s: SessionRecord) {
    this.rows.set(s.id, s);
  }
  async get(id: string) {
    return this.rows.get(id);
  }
  async touch(id: string, nowMs: number) {
    this.touches++;
    const row = this.rows.get(id);
    if (row) this.rows.set(id, { ...row, lastSeenAt: nowMs });
  }
  async delete(id: string) {
    return this.rows.delete(id);
  }
  async listForUser(collection: string, userId: string) {
    return [...this.rows.values()].filter((s) => s.collection === collection && s.userId === userId);
  }
  async deleteForUser(collection: string, userId: string, exceptId?: string) {
    let n = 0;
    for (const s of [...this.rows.values()])
      if (s.collection === collection && s.userId === userId && s.id !== exceptId)
        n += Number(this.rows.delete(s.id));
    return n;
  }
  async deleteEnded(nowMs: number, idleBeforeMs: number) {
    let n = 0;
    for (const s of [...this.rows.values()])
      if (s.expiresAt <= nowMs || s.lastSeenAt <= idleBeforeMs) n += Number(this.rows.delete(s.id));
    return n;
  }
}

function setup() {
  let now = 1_000_000;
  const store = new MemoryStore();
  const sessions = new Sessions(store, {
    idleTimeoutMs: 60_000,
    absoluteTimeoutMs: 300_000,
    touchIntervalMs: 10_000,
    now: () => now,
  });
  const advance = (ms: number): void => {
    now += ms;
  };
  return { store, sessions, advance };
}

describe('Sessions', () => {
  it('stores only the hash of the cookie secret', async () => {
    const { store, sessions } = setup();
    const { secret, session } = await sessions.start({ collection: 'users', userId: 'u1' });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.id).toBe(sessionIdOf(secret));
    expect(JSON.stringify([...store.rows.values()])).not.toContain(secret);
  });

  it('idle expiry: activity keeps it alive, silence ends it', async () => {
    const { sessions, advance } = setup();
    const { secret } = await sessions.start({ collection: 'users', userId: 'u1' });
    for (let i = 0; i < 5; i++) {
      advance(50_000);
      expect(await sessions.resolve(secret)).toBeDefined();
    }
    advance(60_000);
    expect(await sessions.resolve(secret)).toBeUndefined();
  });

  it('absolute expiry ends an active session', async () => {
    const { sessions, advance } = setup();
    const { secret } = await sessions.start({ collection: 'users', userId: 'u1' });
    for (let i = 0; i < 5; i++) {
      advance(59_000);
      expect(await sessions.resolve(secret)).toBeDefined();
    }
    advance(59_000); // 295 s + 59 s > 300 s
    expect(await sessions.resolve(secret)).toBeUndefined();
  });

  it('writes activity at most once per touch interval', async () => {
    const { store, sessions, advance } = setup();
    const { secret } = await sessions.start({ collection: 'users', userId: 'u1' });
    for (let i = 0; i < 20; i++) {
      advance(1_000);
      await sessions.resolve(secret);
    }
    expect(store.touches).toBe(2);
  });

  it('a new sign-in ends the session the request carried (fixation defence)', async () => {
    const { sessions } = setup();
    const first = await sessions.start({ collection: 'users', userId: 'u1' });
    const second = await sessions.start({ collection: 'users', userId: 'u1', previousSecret: first.secret });
    expect(second.secret).not.toBe(first.secret);
    expect(await sessions.resolve(first.secret)).toBeUndefined();
    expect(await sessions.resolve(second.secret)).toBeDefined();
  });

  it('revoke is limited to the owner; revokeAll keeps the excepted session', async () => {
    const { sessions } = setup();
    const a = await sessions.start({ collection: 'users', userId: 'u1' });
    const b = await sessions.start({ collection: 'users', userId: 'u1' });
    const other = await sessions.start({ collection: 'users', userId: 'u2' });
    expect(await sessions.revoke('users', 'u2', a.session.id)).toBe(false);
    expect(await sessions.revokeAll('users', 'u1', a.session.id)).toBe(1);
    expect(await sessions.resolve(a.secret)).toBeDefined();
    expect(await sessions.resolve(b.secret)).toBeUndefined();
    expect(await sessions.resolve(other.secret)).toBeDefined();
  });

  it('malformed secrets never reach the store', async () => {
    const { sessions } = setup();
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 100 }), async (secret) => {
        expect(await sessions.resolve(secret)).toBeUndefined();
      }),
    );
  });
});

describe('session cookie', () => {
  it('plain HTTP: gw_session, HttpOnly, SameSite=Lax, Path=/, no Secure', () => {
    const header = setSessionCookie('s3cret', { secure: false, maxAgeS: 60 });
    expect(header).toBe('gw_session=s3cret; Path=/; HttpOnly; SameSite=Lax; Max-Age=60');
  });

  it('TLS: the __Host- prefix and Secure', () => {
    const header = setSessionCookie('s3cret', { secure: true, maxAgeS: 60 });
    expect(header).toBe('__Host-gw_session=s3cret; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure');
    expect(clearSessionCookie(true)).toContain('Max-Age=0');
  });

  it('on TLS only the __Host- cookie counts (a planted plain cookie is ignored)', () => {
    expect(readSessionCookie('gw_session=planted', true)).toBeUndefined();
    expect(readSessionCookie('gw_session=planted; __Host-gw_session=real', true)).toBe('real');
    expect(readSessionCookie('gw_session=plain', false)).toBe('plain');
  });

  it('readCookie: RFC 6265 pairs, first occurrence, quoted values', () => {
    expect(readCookie('a=1; b=2; a=3', 'a')).toBe('1');
    expect(readCookie('a="x y"', 'a')).toBe('x y');
    expect(readCookie('ab=1', 'a')).toBeUndefined();
    expect(readCookie(['a=1', 'b=2'], 'b')).toBe('2');
    expect(readCookie(`a=${'x'.repeat(9000)}`, 'a')).toBeUndefined();
  });

  it('property: readCookie never throws and returns a value only for a present name', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.array(fc.string())),
        fc.string({ minLength: 1, maxLength: 10 }),
        (header, name) => {
          const value = readCookie(header, name);
          if (value !== undefined)
            expect((Array.isArray(header) ? header.join('; ') : header).includes(name)).toBe(true);
        },
      ),
    );
  });

  it('CSRF tokens compare in constant time and exactly', () => {
    expect(csrfTokenMatches('abc', 'abc')).toBe(true);
    expect(csrfTokenMatches('abd', 'abc')).toBe(false);
    expect(csrfTokenMatches('ab', 'abc')).toBe(false);
    expect(csrfTokenMatches(undefined, 'abc')).toBe(false);
  });
});
