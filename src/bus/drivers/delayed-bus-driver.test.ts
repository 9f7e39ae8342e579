import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Bus } from '../bus.js';
import { backoffDelayMs } from './backoff.js';
import { DelayedBusDriver } from './delayed-bus-driver.js';
import { MemoryBusDriver, MemoryBusHub } from './memory-bus-driver.js';

describe('DelayedBusDriver', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function pair(delayMs: number | (() => number), preserveOrder?: boolean) {
    const hub = new MemoryBusHub();
    const sender = new Bus({ driver: new MemoryBusDriver({ hub }) });
    const delayed = new DelayedBusDriver(new MemoryBusDriver({ hub }), {
      delayMs,
      ...(preserveOrder === undefined ? {} : { preserveOrder }),
    });
    const receiver = new Bus({ driver: delayed });
    const got: Array<{ n: number; at: number }> = [];
    await receiver.subscribe<number>('t', (n) => void got.push({ n, at: Date.now() }));
    return { sender, receiver, delayed, got };
  }

  it('holds each received message for the delay, then delivers it', async () => {
    const { sender, delayed, got } = await pair(50);
    await sender.publish('t', 1);
    await vi.advanceTimersByTimeAsync(49);
    expect(got).toEqual([]);
    expect(delayed.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toEqual([{ n: 1, at: 1_000_050 }]);
    expect(delayed.pending).toBe(0);
  });

  it('keeps arrival order under a shrinking delay: a message never overtakes the one before', async () => {
    const delays = [100, 10, 50, 0];
    const { sender, got } = await pair(() => delays.shift() ?? 0);
    for (const n of [1, 2, 3, 4]) await sender.publish('t', n);
    await vi.advanceTimersByTimeAsync(99);
    expect(got).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(got.map((m) => m.n)).toEqual([1, 2, 3, 4]);
    expect(got.every((m) => m.at === 1_000_100)).toBe(true);
  });

  it('with preserveOrder false, a shorter delay overtakes', async () => {
    const delays = [100, 10];
    const { sender, got } = await pair(() => delays.shift() ?? 0, false);
    await sender.publish('t', 1);
    await sender.publish('t', 2);
    await vi.advanceTimersByTimeAsync(100);
    expect(got.map((m) => m.n)).toEqual([2, 1]);
    expect(got.map((m) => m.at)).toEqual([1_000_010, 1_000_100]);
  });

  it('close drops what is still held', async () => {
    const { sender, receiver, delayed, got } = await pair(50);
    await sender.publish('t', 1);
    await receiver.close();
    expect(delayed.pending).toBe(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(got).toEqual([]);
  });
});

describe('backoffDelayMs', () => {
  it('doubles from minMs up to maxMs, with half of each delay random', () => {
    const options = { minMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelayMs(n, options, () => 0))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelayMs(n, options, () => 0.999999))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });
});
