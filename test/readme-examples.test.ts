import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema } from '../src/core/config.js';
import { ROOT } from './support/process.js';

/** Every YAML configuration example in the README is valid configuration, as written. */
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('README configuration examples', () => {
  it('there are some', () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });
  for (const [i, text] of examples.entries()) {
    it(`example ${i + 1} (${text.split('\n')[0]}) parses against the config schema`, () => {
      const result = configSchema.safeParse(parse(text));
      expect(result.success, JSON.stringify(result.error?.issues, null, 1)).toBe(true);
    });
  }
});
