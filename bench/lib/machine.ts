import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { repoRoot } from './paths.js';

export interface MachineInfo {
  cpuModel: string;
  /** Cores this process may use (`os.availableParallelism`). */
  cores: number;
  memoryGiB: number;
  node: string;
  /** Distribution name from /etc/os-release, else `os.type()`. */
  os: string;
  kernel: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on the box skews results. */
  loadAverage: readonly [number, number, number];
}

export function machineInfo(): MachineInfo {
  const [l1, l5, l15] = os.loadavg();
  return {
    cpuModel: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: osName(),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: [round2(l1 ?? 0), round2(l5 ?? 0), round2(l15 ?? 0)],
  };
}

/** One line for a report: `AMD EPYC, 2 cores, 23.5 GiB, Debian GNU/Linux 12, Node v20.20.2`. */
export function formatMachine(info: MachineInfo): string {
  return (
    `${info.cpuModel}, ${info.cores} cores, ${info.memoryGiB} GiB RAM, ${info.os} (${info.kernel}), ` +
    `Node ${info.node}; load average at start ${info.loadAverage.join(' / ')}`
  );
}

/** The commit measured, with `-dirty` when the work tree has uncommitted changes; `unknown` outside git. */
export function gitRevision(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? head : `${head}-dirty`;
  } catch {
    return 'unknown';
  }
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1]!.trim();
  } catch {
    // not Linux; fall through
  }
  return os.cpus()[0]?.model.trim() ?? 'unknown CPU';
}

function osName(): string {
  try {
    const match = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (match) return match[1]!;
  } catch {
    // no os-release; fall through
  }
  return `${os.type()} ${os.release()}`;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
