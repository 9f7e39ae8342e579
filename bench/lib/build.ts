import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

/**
 * Builds `dist/` from the current sources before a benchmark starts its servers: `npm run build`
 * is tsc's incremental build, so an up-to-date tree costs a second or two, and a run can never
 * measure an older build than the revision it reports.
 */
export function buildDist(): void {
  console.log('npm run build');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
}

/** A build to run: a directory holding `bin/groundwork.js`, `dist/`, `package.json`, `node_modules`. */
export interface BuildRoot {
  label: string;
  dir: string;
}

/**
 * `PROFILE_ROOTS=before=/tmp/old,after=.`: builds to compare side by side, label → directory;
 * without it, this checkout as `current` (built first by the caller).
 */
export function buildRootsFromEnv(): BuildRoot[] {
  const raw = process.env.PROFILE_ROOTS?.trim();
  if (!raw) return [{ label: 'current', dir: repoRoot }];
  return raw.split(',').map((entry) => {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`PROFILE_ROOTS entries are label=dir, got ${JSON.stringify(entry)}`);
    return { label: entry.slice(0, eq).trim(), dir: path.resolve(entry.slice(eq + 1).trim()) };
  });
}
