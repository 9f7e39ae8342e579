import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Kernel clock ticks per second (`getconf CLK_TCK`, 100 on nearly every Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * CPU time (user + system) a live process has used so far, in ms, from /proc/PID/stat; undefined
 * where /proc is missing. The difference over a measurement divided by the requests served gives
 * CPU per request, which unlike req/s does not depend on how much CPU the load generator took.
 * Resolution is one clock tick (10 ms), ample over a run of seconds.
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After comm, fields start at 3 (state); utime and stime are fields 14 and 15.
    const utime = Number(fields[14 - 3]);
    const stime = Number(fields[15 - 3]);
    return ((utime + stime) / ticksPerSecond()) * 1_000;
  } catch {
    return undefined;
  }
}

export interface SystemCpuSample {
  busy: number;
  total: number;
}

/** Machine-wide CPU counters from /proc/stat (all cores), for the share busy over an interval. */
export function systemCpuSample(): SystemCpuSample | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest counts are already inside user)
    const total = values.slice(0, 8).reduce((sum, v) => sum + v, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** The share of all cores busy between two samples (0–1), or undefined without samples. */
export function busyShare(from?: SystemCpuSample, to?: SystemCpuSample): number | undefined {
  if (!from || !to || to.total <= from.total) return undefined;
  return (to.busy - from.busy) / (to.total - from.total);
}

/**
 * CPU time (user + system) of this process's children that have exited and been waited for
 * (`cutime` + `cstime` in /proc/self/stat), in ms; undefined where /proc is missing. The difference
 * around one child's whole life — a load generator such as wrk — is that child's CPU time.
 */
export function reapedChildrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // cutime and cstime are fields 16 and 17 (fields after comm start at 3).
    const cutime = Number(fields[16 - 3]);
    const cstime = Number(fields[17 - 3]);
    return ((cutime + cstime) / ticksPerSecond()) * 1_000;
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system) of a process and of all its children, live and exited, in ms: for the
 * postmaster this is PostgreSQL as a whole, each connection's backend being a child process. Exited
 * children count through the parent's `cutime` + `cstime`; live ones are found by their ppid.
 */
export function processTreeCpuMs(rootPid: number): number | undefined {
  const msPerTick = 1_000 / ticksPerSecond();
  const read = (pid: number | string): { ppid: number; ms: number } | undefined => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After comm, fields start at 3: ppid is 4; utime, stime, cutime, cstime are 14–17.
      const ticks = [14, 15, 16, 17].reduce((sum, f) => sum + Number(fields[f - 3]), 0);
      return { ppid: Number(fields[4 - 3]), ms: ticks * msPerTick };
    } catch {
      return undefined;
    }
  };
  const root = read(rootPid);
  if (root === undefined) return undefined;
  let total = root.ms;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = read(entry);
    if (child?.ppid === rootPid) total += child.ms;
  }
  return total;
}

/** `after - before`, or undefined when either reading is missing. */
export function cpuDelta(before: number | undefined, after: number | undefined): number | undefined {
  return before !== undefined && after !== undefined ? after - before : undefined;
}
