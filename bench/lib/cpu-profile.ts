/**
 * Reading a V8 `.cpuprofile` (`node --cpu-prof`) for the profiling scripts: the samples inside the
 * measured windows summed as main-thread µs per request — self time by group (package, Groundwork
 * file under dist/, Node module) and by function, inclusive time by function. Sample times are on
 * the profiled process's monotonic clock in µs, the clock `monotonicUs()` reads here (both are
 * the system's monotonic clock).
 */

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

export interface ProfileSummary {
  /** Main-thread time not idle, in µs per request, within the windows. */
  busyUsPerRequest: number;
  /** Share of the windows the profile's samples cover (sanity check of the clock alignment). */
  coverage: number;
  byGroup: [string, number][];
  bySelf: [string, number][];
  byTotal: [string, number][];
}

/** This process's monotonic clock in µs, comparable with a profile's sample times. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1_000n);
}

/**
 * Sums the samples taken inside `windows` (or all, if undefined), divided by `requests`: the
 * requests served in those windows.
 */
export function summariseProfile(
  profile: CpuProfile,
  windows: readonly ProfileWindow[] | undefined,
  requests: number,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const group = new Map<string, number>();
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  let busy = 0;
  let covered = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    // A sample's time is the delta to the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (windows !== undefined && !windows.some((w) => t >= w.fromUs && t <= w.toUs)) continue;
    covered += us;
    const node = byId.get(profile.samples[i] as number) as ProfileNode;
    const name = node.callFrame.functionName;
    if (name === '(idle)' || name === '(root)') continue;
    busy += us;
    add(group, groupOf(node.callFrame), us);
    add(self, frameKey(node.callFrame), us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const key = frameKey((byId.get(id) as ProfileNode).callFrame);
      if (seen.has(key)) continue;
      seen.add(key);
      add(total, key, us);
    }
  }
  const perRequest = (map: Map<string, number>) =>
    [...map.entries()].map(([k, us]) => [k, us / requests] as [string, number]).sort((a, b) => b[1] - a[1]);
  const span = windows?.reduce((sum, w) => sum + (w.toUs - w.fromUs), 0);
  return {
    busyUsPerRequest: busy / requests,
    coverage: span === undefined || span <= 0 ? 1 : covered / span,
    byGroup: perRequest(group),
    bySelf: perRequest(self),
    byTotal: perRequest(total).filter(([k]) => !k.startsWith('(root)')),
  };
}

/** The summary as text: busy time, then the `top` rows of each table. */
export function profileReport(summary: ProfileSummary, top: number): string {
  const rows = (entries: [string, number][]) =>
    entries
      .slice(0, top)
      .map(([k, us]) => `  ${us.toFixed(2).padStart(7)}  ${k}`)
      .join('\n');
  return [
    `main thread busy ${summary.busyUsPerRequest.toFixed(1)} µs/req`,
    'self µs/req by group:',
    rows(summary.byGroup),
    'self µs/req by function:',
    rows(summary.bySelf),
    'inclusive µs/req by function:',
    rows(summary.byTotal),
    '',
  ].join('\n');
}

/** `fastify`, `undici`, `gw:gateway/pipeline.js`, `node:internal/http/server`, `(garbage collector)`… */
export function groupOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return (rest[0] as string).startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] as string);
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist !== -1) return `gw:${url.slice(dist + '/dist/'.length)}`;
  return url.replace(/^file:\/\//, '');
}

/** `name group:line`, or the bare name of a native frame. */
export function frameKey(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  return frame.url === '' ? name : `${name} ${groupOf(frame)}:${frame.lineNumber + 1}`;
}
