import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { track } from './server-process.js';

export interface WrkOptions {
  url: string;
  /** wrk threads (`-t`). On a small machine wrk competes with the server for cores: keep it low. */
  threads: number;
  /** Open connections in total (`-c`). */
  connections: number;
  durationS: number;
  /** Per-request timeout (`--timeout`), in s; wrk's default is 2. */
  timeoutS?: number;
  headers?: Readonly<Record<string, string>>;
  /** A wrk Lua script (`-s PATH`) that shapes the requests, e.g. a POST body or per-request headers. */
  script?: string;
  /** Arguments for the script's `init(args)`, passed after the URL as `-- ARG…`. */
  scriptArgs?: readonly string[];
}

export interface WrkResult {
  requestsPerSec: number;
  /** From wrk's `--latency` distribution, normalised to ms. */
  latencyMs: { p50: number; p75: number; p90: number; p99: number };
  requests: number;
  durationS: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** Responses outside 2xx/3xx: any at all means the run measured errors, not the endpoint. */
  non2xx3xx: number;
  /** wrk's stdout, kept for the record. */
  raw: string;
}

/** The wrk executable on PATH, or an error that says how to install it. */
export function wrkBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'wrk');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  throw new Error('wrk not found on PATH: install it with `apt-get install -y wrk` (Debian package "wrk")');
}

/** Runs wrk with `--latency` and parses its report. Rejects if wrk fails or prints no result. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.durationS}s`,
    '--latency',
    ...(options.timeoutS === undefined ? [] : ['--timeout', `${options.timeoutS}s`]),
    ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    ...(options.script === undefined ? [] : ['-s', options.script]),
    options.url,
    ...(options.scriptArgs === undefined || options.scriptArgs.length === 0
      ? []
      : ['--', ...options.scriptArgs]),
  ];
  const child = spawn(wrkBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  // wrk stops itself after the duration; the watchdog only guards against a hang.
  const watchdog = setTimeout(() => child.kill('SIGKILL'), (options.durationS + 30) * 1_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(watchdog));
  if (code !== 0) {
    throw new Error(`wrk ${args.join(' ')} exited with ${code}: ${(stderr || stdout).trim()}`);
  }
  return parseWrkOutput(stdout);
}

const TIME_UNITS_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/** A wrk duration such as `812.00us`, `1.23ms`, `2.01s` or `1.00m`, in ms. */
export function parseWrkTimeMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`not a wrk duration: ${JSON.stringify(text)}`);
  // Rounded to 1 ns so unit scaling leaves no float noise (2.01 s is 2010 ms, not 2009.999…).
  return Math.round(Number(match[1]) * TIME_UNITS_MS[match[2]!]! * 1e6) / 1e6;
}

/** Parses wrk 4's text report (`--latency` required for the percentiles). */
export function parseWrkOutput(raw: string): WrkResult {
  const percentile = (p: number): number => {
    const match = new RegExp(`^\\s*${p}(?:\\.0+)?%\\s+(\\S+)\\s*$`, 'm').exec(raw);
    if (!match) throw new Error(`wrk output has no ${p}% latency line (was --latency passed?)\n${raw}`);
    return parseWrkTimeMs(match[1]!);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)\s*$/m.exec(raw);
  if (!rps) throw new Error(`wrk output has no Requests/sec line\n${raw}`);
  const total = /^\s*(\d+) requests in ([\d.]+(?:us|ms|s|m|h)),/m.exec(raw);
  if (!total) throw new Error(`wrk output has no "N requests in T" line\n${raw}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(raw);
  return {
    requestsPerSec: Number(rps[1]),
    latencyMs: { p50: percentile(50), p75: percentile(75), p90: percentile(90), p99: percentile(99) },
    requests: Number(total[1]),
    durationS: parseWrkTimeMs(total[2]!) / 1_000,
    socketErrors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
    },
    non2xx3xx: Number(non2xx?.[1] ?? 0),
    raw,
  };
}
