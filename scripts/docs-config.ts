// Regenerates the configuration table in README.md from the schema (`npm run docs:config`).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigTable } from '../src/core/config-docs.js';

const path = new URL('../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const next = readme.replace(
  /<!-- config-table:start -->[\s\S]*?<!-- config-table:end -->/,
  `<!-- config-table:start -->\n${renderConfigTable()}\n<!-- config-table:end -->`,
);
if (next === readme && !readme.includes('<!-- config-table:start -->'))
  throw new Error('README has no config-table markers');
writeFileSync(path, next);
