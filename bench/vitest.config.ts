import { defineConfig } from 'vitest/config';

// The bench helpers' own unit tests (parsers, doc writer), kept out of the main suite's engines:
//   npx vitest run -c bench/vitest.config.ts
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['bench/**/*.test.ts'],
  },
});
