import { describe, expect, it } from 'vitest';
import type { DrainResult } from './drain.js';
import { ManualScheduler } from './scheduler.js';
import { TargetSet } from './target-set.js';

/** Tracks a promise's settlement without awaiting it. */
function watch<T>(promise: Promise<T>) {
  const state: { value: T | undefined; settled: boolean } = { value: undefined, settled: false };
  void promise.then((value) => {
    state.value = value;
    state.settled = true;
  });
  return state;
}

describe('TargetSet', () => {
  function setup(drainTimeoutMs = 10_000) {
    const time = new ManualScheduler();
    const drained: [string, string, DrainResult][] = [];
    const set = new TargetSet<string>({
      scheduler: time,
      drainTimeoutMs,
      onDrained: (id, target, result) => drained.push([id, target, result]),
    });
    return { time, drained, set };
  }

  it('update adds and drains by difference; active is a new snapshot on each change', () => {
    const { set } = setup();
    expect(
      set.update([
        ['a', 'A'],
        ['b', 'B'],
      ]),
    ).toEqual({ added: ['a', 'b'], removed: [] });
    const before = set.active;
    const version = set.version;
    expect(before).toEqual([
      { id: 'a', target: 'A' },
      { id: 'b', target: 'B' },
    ]);
    expect(
      set.update([
        ['a', 'A'],
        ['b', 'B'],
      ]),
    ).toEqual({ added: [], removed: [] });
    expect(set.active).toBe(before);
    expect(
      set.update([
        ['b', 'B'],
        ['c', 'C'],
      ]),
    ).toEqual({ added: ['c'], removed: ['a'] });
    expect(set.active).not.toBe(before);
    expect(set.version).toBeGreaterThan(version);
    expect(set.active.map((t) => t.id)).toEqual(['b', 'c']);
    expect(Object.isFrozen(set.active)).toBe(true);
  });

  it('a removed target gets no new requests and is closed when its in-flight requests end', async () => {
    const { set, time, drained } = setup();
    set.update([
      ['a', 'A'],
      ['b', 'B'],
    ]);
    const r1 = set.acquire('a')!;
    const r2 = set.acquire('a')!;
    const removal = watch(set.remove('a')!);
    expect(set.has('a')).toBe(false);
    expect(set.active.map((t) => t.id)).toEqual(['b']);
    expect(set.acquire('a')).toBeUndefined();
    expect(set.draining()).toEqual(['a']);
    expect(set.inFlight('a')).toBe(2);
    r1();
    await time.advance(100);
    expect(drained).toEqual([]);
    r2();
    await time.advance(0);
    expect(removal.value?.reason).toBe('idle');
    expect(drained).toEqual([['a', 'A', { reason: 'idle', inFlight: 0, durationMs: 100 }]]);
    expect(set.draining()).toEqual([]);
    expect(set.remove('a')).toBeUndefined();
  });

  it('closes a target after the drain timeout even with requests in flight', async () => {
    const { set, time, drained } = setup(2_000);
    set.update([['a', 'A']]);
    set.acquire('a');
    void set.remove('a');
    await time.advance(2_000);
    expect(drained).toEqual([['a', 'A', { reason: 'timeout', inFlight: 1, durationMs: 2_000 }]]);
  });

  it('adding back a draining target calls the drain off and keeps its in-flight count', async () => {
    const { set, time, drained } = setup();
    set.update([['a', 'A1']]);
    const release = set.acquire('a')!;
    const removal = watch(set.remove('a')!);
    expect(set.add('a', 'A2')).toBe(true);
    await time.advance(0);
    expect(removal.value?.reason).toBe('reactivated');
    expect(set.active).toEqual([{ id: 'a', target: 'A2' }]);
    expect(set.inFlight('a')).toBe(1);
    release();
    expect(set.inFlight('a')).toBe(0);
    await time.advance(60_000);
    expect(drained).toEqual([]);
    expect(set.add('a', 'A3')).toBe(false);
  });

  it('drainAll removes everything and waits for every drain', async () => {
    const { set, time, drained } = setup(5_000);
    set.update([
      ['a', 'A'],
      ['b', 'B'],
    ]);
    const release = set.acquire('b')!;
    const all = watch(set.drainAll());
    expect(set.active).toEqual([]);
    await time.advance(10);
    expect(all.settled).toBe(false);
    release();
    await time.advance(0);
    expect(all.settled).toBe(true);
    expect(drained.map(([id, , r]) => [id, r.reason])).toEqual([
      ['a', 'idle'],
      ['b', 'idle'],
    ]);
  });
});
