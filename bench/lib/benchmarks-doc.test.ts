import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BENCHMARKS_DOC_HEADER, replaceSection, writeBenchmarkSection } from './benchmarks-doc.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('replaceSection', () => {
  it('appends a new section, then replaces only its own on a re-run', () => {
    const once = replaceSection('# Bench\n\nintro\n', 'a', 'A1');
    const twice = replaceSection(once, 'b', 'B1');
    const again = replaceSection(twice, 'a', 'A2\nmore');
    expect(again).toBe(
      '# Bench\n\nintro\n\n<!-- bench:a:start -->\nA2\nmore\n<!-- bench:a:end -->\n\n' +
        '<!-- bench:b:start -->\nB1\n<!-- bench:b:end -->\n',
    );
  });

  it('refuses broken or duplicated markers and bad names', () => {
    expect(() => replaceSection('<!-- bench:a:start -->\nx\n', 'a', 'y')).toThrow(/incomplete/);
    expect(() => replaceSection('<!-- bench:a:end -->\n<!-- bench:a:start -->\n', 'a', 'y')).toThrow(
      /out of order/,
    );
    const doubled = '<!-- bench:a:start -->\n<!-- bench:a:end -->\n'.repeat(2);
    expect(() => replaceSection(doubled, 'a', 'y')).toThrow(/more than once/);
    expect(() => replaceSection('', 'A b', 'y')).toThrow(/bad benchmark section name/);
  });
});

describe('writeBenchmarkSection', () => {
  it('creates the file with the header, and keeps edits outside the markers', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-doc-'));
    dirs.push(dir);
    const file = path.join(dir, 'benchmarks.md');
    writeBenchmarkSection('x', 'first-run-body', file);
    expect(readFileSync(file, 'utf8').startsWith(BENCHMARKS_DOC_HEADER.trimEnd())).toBe(true);
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nhand-written note\n`);
    writeBenchmarkSection('x', 'second-run-body', file);
    const doc = readFileSync(file, 'utf8');
    expect(doc).toContain('<!-- bench:x:start -->\nsecond-run-body\n<!-- bench:x:end -->');
    expect(doc).not.toContain('first-run-body');
    expect(doc).toContain('hand-written note');
  });
});
