import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Target } from './balancer.js';
import { LeastConnections } from './least-connections.js';
import { RoundRobin } from './round-robin.js';
import { StickySessions } from './sticky-sessions.js';

const t = (id: string, extra: Partial<Target> = {}): Target => ({
  id,
  address: `http://10.0.0.${id.charCodeAt(0)}:8080`,
  weight: 1,
  ...extra,
});
const SECRET = 'a-secret-of-at-least-16-bytes';
const group = () => [t('a'), t('b'), t('c')];

describe('sticky sessions by cookie', () => {
  it('pins: the first pick sets a cookie; requests carrying it go to that target, without setting it again', () => {
    const lb = new StickySessions(new RoundRobin({ targets: group() }), { secret: SECRET });
    const first = lb.pickSticky({})!;
    expect(first.setCookie).toBe(lb.cookieValue(first.target));
    for (let i = 0; i < 20; i++) {
      const again = lb.pickSticky({ stickyCookie: first.setCookie })!;
      expect(again.target).toBe(first.target);
      expect(again.setCookie).toBeUndefined();
    }
    // Without the cookie, the inner round robin goes on to the others.
    expect(lb.pick()).not.toBe(first.target);
  });

  it('re-pins when the pinned target is excluded (a retry), unavailable, or gone', () => {
    const lb = new StickySessions(new RoundRobin({ targets: group() }), { secret: SECRET });
    const cookie = lb.cookieValue(t('a'));
    const retry = lb.pickSticky({ stickyCookie: cookie, exclude: new Set(['a']) })!;
    expect(retry.target.id).not.toBe('a');
    expect(retry.setCookie).toBe(lb.cookieValue(retry.target));
    lb.setTargets([t('a', { available: false }), t('b'), t('c')]);
    const down = lb.pickSticky({ stickyCookie: cookie })!;
    expect(down.target.id).not.toBe('a');
    expect(down.setCookie).toBeDefined();
    lb.setTargets([t('b'), t('c')]);
    expect(lb.pickSticky({ stickyCookie: cookie })!.setCookie).toBeDefined();
    // Back in the group: the old cookie pins to it again.
    lb.setTargets(group());
    expect(lb.pickSticky({ stickyCookie: cookie })).toEqual({ target: lb.targets()[0] });
  });

  it('an unknown or forged cookie is ignored: the inner balancer picks and a valid cookie is set', () => {
    const lb = new StickySessions(new RoundRobin({ targets: group() }), {
      secret: SECRET,
      encoding: 'signed',
    });
    const forged = `${Buffer.from('a').toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA`;
    const result = lb.pickSticky({ stickyCookie: forged })!;
    expect(result.setCookie).toBe(lb.cookieValue(result.target));
    expect(lb.pickSticky({ stickyCookie: 'garbage' })!.setCookie).toBeDefined();
  });

  it('values: opaque ones reveal neither id nor address; signed ones carry the id; the secret decides them', () => {
    const targets = group();
    const opaque = new StickySessions(new RoundRobin({ targets }), { secret: SECRET });
    const value = opaque.cookieValue(targets[0]!);
    // 132 bits of HMAC-SHA-256(secret, id): nothing of the id or address in clear.
    expect(value).toBe(createHmac('sha256', SECRET).update('a').digest('base64url').slice(0, 22));
    const keyless = new StickySessions(new RoundRobin({ targets }));
    expect(keyless.cookieValue(targets[0]!)).toBe(
      createHash('sha256').update('a').digest('base64url').slice(0, 22),
    );
    const signed = new StickySessions(new RoundRobin({ targets }), { secret: SECRET, encoding: 'signed' });
    expect(signed.cookieValue(targets[0]!)).toBe(`${Buffer.from('a').toString('base64url')}.${value}`);
    // Another edge node with the same secret pins alike; another secret does not.
    expect(new StickySessions(new RoundRobin({ targets }), { secret: SECRET }).cookieValue(targets[0]!)).toBe(
      value,
    );
    const other = new StickySessions(new RoundRobin({ targets }), { secret: 'another-secret-16-bytes!' });
    expect(other.cookieValue(targets[0]!)).not.toBe(value);
    expect(other.pickSticky({ stickyCookie: value })!.setCookie).toBeDefined();
    // Distinct targets, distinct values.
    expect(new Set(targets.map((x) => opaque.cookieValue(x))).size).toBe(3);
  });

  it('pinned requests still count in the inner balancer’s load', () => {
    const inner = new LeastConnections({ targets: group() });
    const lb = new StickySessions(inner, {});
    const cookie = lb.cookieValue(t('b'));
    const pinned = lb.pick({ stickyCookie: cookie })!;
    lb.onStart(pinned);
    lb.onStart(pinned);
    expect(inner.inflight('b')).toBe(2);
    lb.onEnd(pinned, { latencyMs: 3, ok: true });
    expect(inner.inflight('b')).toBe(1);
    expect(lb.name).toBe('least-connections');
  });

  it('refuses a signed encoding without a secret, and a short secret', () => {
    const code = expect.objectContaining({ code: 'EDGE_ERR_INVALID_BALANCER' });
    expect(() => new StickySessions(new RoundRobin(), { encoding: 'signed' })).toThrow(code);
    expect(() => new StickySessions(new RoundRobin(), { secret: 'short' })).toThrow(code);
  });
});
