import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueuedTimeout, TimeoutQueue } from './timeout-queue.js';

class Entry extends QueuedTimeout {
  constructor(
    readonly name: string,
    readonly log: string[],
    readonly onExpire?: () => void,
  ) {
    super();
  }

  expire(): void {
    this.log.push(`${this.name}@${Date.now()}`);
    this.onExpire?.();
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('TimeoutQueue', () => {
  it('expires each entry durationMs after it was added, in order, not before', () => {
    const queue = new TimeoutQueue(100);
    const log: string[] = [];
    queue.add(new Entry('a', log), Date.now());
    vi.advanceTimersByTime(30);
    queue.add(new Entry('b', log), Date.now());
    vi.advanceTimersByTime(69);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['a@1100']);
    vi.advanceTimersByTime(29);
    expect(log).toEqual(['a@1100']);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['a@1100', 'b@1130']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never expires a cancelled entry, whether it was first, in the middle or last', () => {
    const queue = new TimeoutQueue(50);
    const log: string[] = [];
    const entries = ['a', 'b', 'c', 'd'].map((name) => new Entry(name, log));
    for (const entry of entries) {
      queue.add(entry, Date.now());
      vi.advanceTimersByTime(5);
    }
    entries[0]!.cancel();
    entries[2]!.cancel();
    entries[2]!.cancel(); // twice: a no-op
    vi.advanceTimersByTime(100);
    expect(log).toEqual(['b@1055', 'd@1065']);
  });

  it('holds no timer once every entry is cancelled', () => {
    const queue = new TimeoutQueue(50);
    const one = new Entry('one', []);
    const two = new Entry('two', []);
    queue.add(one, Date.now());
    queue.add(two, Date.now());
    expect(vi.getTimerCount()).toBe(1);
    two.cancel();
    one.cancel();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('takes entries added while it expires others (a retry), keeping the older ones first', () => {
    const queue = new TimeoutQueue(100);
    const log: string[] = [];
    const retry = new Entry('retry', log);
    queue.add(new Entry('first', log, () => queue.add(retry, Date.now())), Date.now());
    vi.advanceTimersByTime(50);
    queue.add(new Entry('other', log), Date.now());
    vi.advanceTimersByTime(50);
    expect(log).toEqual(['first@1100']);
    vi.advanceTimersByTime(50);
    expect(log).toEqual(['first@1100', 'other@1150']);
    vi.advanceTimersByTime(50);
    expect(log).toEqual(['first@1100', 'other@1150', 'retry@1200']);
    // An expired entry can be added again.
    queue.add(retry, Date.now());
    vi.advanceTimersByTime(100);
    expect(log.at(-1)).toBe('retry@1300');
  });
});
