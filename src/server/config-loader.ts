import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type ResolvedConfig, resolveConfig } from '../core/config.js';
import { GroundworkError } from '../core/errors.js';

const DEFAULT_FILES = ['groundwork.config.json', 'groundwork.config.yaml', 'groundwork.config.yml'];

/** The composition root's view of the environment: only GROUNDWORK_* variables. */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env)) if (key.startsWith('GROUNDWORK_')) out[key] = value;
  return out;
}

/** Reads `--config PATH`, or the first default file found in `cwd`; JSON or YAML. */
export function readConfigFile(
  path: string | undefined,
  cwd = process.cwd(),
): { path: string; values: unknown } | undefined {
  const candidate = path
    ? resolve(cwd, path)
    : DEFAULT_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
  if (!candidate) return undefined;
  let text: string;
  try {
    text = readFileSync(candidate, 'utf8');
  } catch (error) {
    throw new GroundworkError('CONFIG_ERR_FILE', {
      detail: `Cannot read config file ${candidate}`,
      cause: error,
    });
  }
  try {
    const values = /\.ya?ml$/i.test(candidate) ? parseYaml(text) : JSON.parse(text);
    return { path: candidate, values: values ?? {} };
  } catch (error) {
    throw new GroundworkError('CONFIG_ERR_FILE', {
      detail: `Config file ${candidate} is not valid ${/\.ya?ml$/i.test(candidate) ? 'YAML' : 'JSON'}: ${(error as Error).message}`,
      cause: error,
    });
  }
}

/** defaults < config file < environment < flags. */
export function loadConfig(options: {
  configPath?: string | undefined;
  flags?: Record<string, string | boolean | undefined>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}): ResolvedConfig {
  const file = readConfigFile(options.configPath, options.cwd);
  return resolveConfig({
    ...(file ? { file } : {}),
    env: readEnvironment(options.env),
    ...(options.flags ? { flags: options.flags } : {}),
  });
}
