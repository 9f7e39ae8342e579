import { describe, expect, it } from 'vitest';
import { mergeVary } from './vary.js';

describe('mergeVary', () => {
  it('adds only the missing names, keeping order and the existing spelling', () => {
    expect(mergeVary(undefined, 'Authorization, Cookie')).toBe('Authorization, Cookie');
    expect(mergeVary('', 'Origin')).toBe('Origin');
    expect(mergeVary('Origin', 'Authorization, Cookie')).toBe('Origin, Authorization, Cookie');
    expect(mergeVary('origin, cookie', 'Authorization, Cookie, Origin')).toBe(
      'origin, cookie, Authorization',
    );
    expect(mergeVary('Origin', 'origin')).toBe('Origin');
  });

  it('leaves Vary: * as it is (it already varies on everything)', () => {
    expect(mergeVary('*', 'Origin')).toBe('*');
  });
});
