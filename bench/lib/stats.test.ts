import { describe, expect, it } from 'vitest';
import { escapeXml } from './bar-chart-svg.js';
import { median } from './stats.js';

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow();
  });
});

describe('escapeXml', () => {
  it('escapes every character that could break out of SVG text or an attribute', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).not.toMatch(/[<>"'&](?!#\d+;)/);
  });
});
