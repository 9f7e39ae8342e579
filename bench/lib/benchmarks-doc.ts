import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.js';

/** The results file every benchmark writes its own section of. */
export const benchmarksDocPath = path.join(repoRoot, 'docs', 'benchmarks.md');
/** Plots and raw results linked from the sections (relative links: `benchmarks/NAME.svg`). */
export const benchmarksAssetDir = path.join(repoRoot, 'docs', 'benchmarks');

/** Written once, when docs/benchmarks.md does not exist yet; later runs keep whatever is there. */
export const BENCHMARKS_DOC_HEADER = `# Benchmarks

Results of the scripts in [\`bench/\`](../bench). Each script starts Groundwork, named peers and the
load generator together on one machine and measures them in the same run, so **read the ratios, not
the absolute numbers**: on the reference machine the same server moves ±20% from one run to the next,
while ratios measured side by side stay put.

Every section below belongs to one script, between \`<!-- bench:NAME:start -->\` and
\`<!-- bench:NAME:end -->\` markers, and is replaced whenever that script runs again; each section
gives its exact command, machine and date. Text outside the markers is left alone.

## Re-running

Prerequisites: \`npm ci\` and \`wrk\` (\`apt-get install -y wrk\`). Every file directly in \`bench/\` is
one benchmark (helpers live in \`bench/lib/\`, peer servers in \`bench/servers/\`):

\`\`\`sh
npx tsx bench/http-baseline.ts            # one benchmark (or: npm run bench:http-baseline)
for b in bench/*.ts; do npx tsx "$b"; done  # all of them
\`\`\`

Close other heavy work first: the load generator and the servers share the machine's cores.
`;

function markers(name: string): { start: string; end: string } {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`bad benchmark section name: ${name}`);
  return { start: `<!-- bench:${name}:start -->`, end: `<!-- bench:${name}:end -->` };
}

/**
 * Returns `doc` with the section `name` set to `body`: replaced between its markers if present,
 * else appended at the end. Fails on a half-present or reversed marker pair instead of guessing.
 */
export function replaceSection(doc: string, name: string, body: string): string {
  const { start, end } = markers(name);
  const block = `${start}\n${body.trim()}\n${end}`;
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from === -1 && to === -1) return `${doc.trimEnd()}\n\n${block}\n`;
  if (from === -1 || to === -1 || to < from) {
    throw new Error(`section markers for "${name}" are incomplete or out of order`);
  }
  if (doc.indexOf(start, from + 1) !== -1 || doc.indexOf(end, to + 1) !== -1) {
    throw new Error(`section markers for "${name}" appear more than once`);
  }
  return doc.slice(0, from) + block + doc.slice(to + end.length);
}

/** Writes (or replaces) one benchmark's section of docs/benchmarks.md, creating the file if needed. */
export function writeBenchmarkSection(name: string, body: string, file = benchmarksDocPath): void {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : BENCHMARKS_DOC_HEADER;
  writeFileAtomic(file, replaceSection(doc, name, body));
}

/** Writes a file under docs/benchmarks/ and returns its path. */
export function writeBenchmarkAsset(fileName: string, content: string): string {
  const file = path.join(benchmarksAssetDir, fileName);
  writeFileAtomic(file, content);
  return file;
}

function writeFileAtomic(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}
