import { spawnSync } from 'node:child_process';
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
