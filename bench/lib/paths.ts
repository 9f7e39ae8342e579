import { fileURLToPath } from 'node:url';

/** The repository root (bench scripts run from anywhere; every path is resolved from here). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Scratch space for benchmark data dirs and logs: git- and biome-ignored, removed after a run. */
export const benchTmpRoot = fileURLToPath(new URL('../../.bench-tmp/', import.meta.url));
