import { describe, expect, it } from 'vitest';
import { sqliteChunks } from './outbox.js';

describe('sqliteChunks', () => {
  it('splits rows into power-of-two statements, largest first, covering every row once', () => {
    expect(sqliteChunks(50, 8)).toEqual([32, 16, 2]);
    expect(sqliteChunks(1, 8)).toEqual([1]);
    expect(sqliteChunks(0, 8)).toEqual([]);
    expect(sqliteChunks(300, 6)).toEqual([128, 128, 32, 8, 4]);
    for (let n = 1; n <= 300; n++) {
      const sizes = sqliteChunks(n, 8);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
      for (const size of sizes) expect(Number.isInteger(Math.log2(size))).toBe(true);
    }
  });

  it("keeps each statement within SQLite's parameter limit for wide rows", () => {
    // 500 columns: at most 32,766 / 500 = 65 rows per statement, so 64.
    expect(sqliteChunks(100, 500)).toEqual([64, 32, 4]);
    expect(Math.max(...sqliteChunks(1000, 2000)) * 2000).toBeLessThanOrEqual(32_766);
  });
});
