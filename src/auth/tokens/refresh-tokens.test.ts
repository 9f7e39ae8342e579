import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import type { Database } from '../../db/database.js';
import { hashRefreshToken, isRefreshTokenShape, newRefreshToken, RefreshTokens } from './refresh-tokens.js';

describe('refresh token format', () => {
  it('is gwr_ plus 256 random bits in base64url, and new tokens differ', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newRefreshToken()));
    expect(tokens.size).toBe(100);
    for (const token of tokens) {
      expect(token).toMatch(/^gwr_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token.slice(4), 'base64url')).toHaveLength(32);
      expect(isRefreshTokenShape(token)).toBe(true);
    }
  });

  it('refuses other shapes before any lookup', () => {
    const good = newRefreshToken();
    for (const value of [
      '',
      'gwr_',
      good.slice(0, -1),
      `${good}A`,
      good.replace('gwr_', 'gwk_'),
      `${good.slice(0, -1)}=`,
      ` ${good}`,
      `${good.slice(0, -1)}+`,
      42,
      null,
      undefined,
      { token: good },
    ]) {
      expect(isRefreshTokenShape(value), String(value)).toBe(false);
    }
  });

  it('stores SHA-256 in hex', () => {
    expect(hashRefreshToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('RefreshTokens options', () => {
  const database = { kysely: {} } as unknown as Database;

  it('refuses out-of-range options with AUTH_ERR_TOKEN_CONFIG naming the option', () => {
    for (const [options, name] of [
      [{ ttlMs: 0 }, 'ttlMs'],
      [{ familyLifetimeMs: -1 }, 'familyLifetimeMs'],
      [{ reuseGraceMs: 1.5 }, 'reuseGraceMs'],
      [{ statusCacheMs: Number.NaN }, 'statusCacheMs'],
    ] as const) {
      let error: unknown;
      try {
        new RefreshTokens(database, options);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(GroundworkError);
      expect((error as GroundworkError).code).toBe('AUTH_ERR_TOKEN_CONFIG');
      expect((error as GroundworkError).detail).toContain(name);
    }
    expect(() => new RefreshTokens(database, { reuseGraceMs: 0, statusCacheMs: 0 })).not.toThrow();
  });
});
