import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Engines are shared per run (one PostgreSQL, one Redis); files get their own database.
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
