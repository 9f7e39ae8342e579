import { describe, expect, it } from 'vitest';
import { DrainableTarget } from './drain.js';
import { ManualScheduler } from './scheduler.js';

/** Tracks a promise's settlement without awaiting it. */
function watch<T>(promise: Promise<T>) {
  const state: { value: T | undefined; settled: boolean } = { value: undefined, settled: false };
  void promise.then((value) => {
    state.value = value;
    state.settled = true;
  });
  return state;
}

describe('DrainableTarget', () => {
  it('refuses new requests at once and resolves when the last in-flight request ends', async () => {
    const time = new ManualScheduler(1_000);
    const target = new DrainableTarget({ scheduler: time });
    const a = target.acquire()!;
    const b = target.acquire()!;
    expect(target.inFlight).toBe(2);
    const drained = watch(target.drain(30_000));
    expect(target.state).toBe('draining');
    expect(target.acquire()).toBeUndefined();
    a();
    a(); // a second release of the same request changes nothing
    await time.advance(250);
    expect(target.inFlight).toBe(1);
    expect(drained.settled).toBe(false);
    b();
    await time.advance(0);
    expect(drained.value).toEqual({ reason: 'idle', inFlight: 0, durationMs: 250 });
    expect(target.state).toBe('drained');
    expect(time.pendingTimers).toBe(0); // the drain timeout was cancelled
  });

  it('resolves at once when nothing is in flight', async () => {
    const time = new ManualScheduler();
    const target = new DrainableTarget({ scheduler: time });
    expect(await target.drain(1_000)).toEqual({ reason: 'idle', inFlight: 0, durationMs: 0 });
    expect(await target.drain(1_000)).toEqual({ reason: 'idle', inFlight: 0, durationMs: 0 });
    expect(target.acquire()).toBeUndefined();
  });

  it('gives up after the drain timeout, reporting what is still in flight', async () => {
    const time = new ManualScheduler();
    const target = new DrainableTarget({ scheduler: time });
    const release = target.acquire()!;
    const first = target.drain(1_000);
    expect(target.drain(1_000)).toBe(first); // same drain
    const drained = watch(first);
    await time.advance(999);
    expect(drained.settled).toBe(false);
    await time.advance(1);
    expect(drained.value).toEqual({ reason: 'timeout', inFlight: 1, durationMs: 1_000 });
    release(); // a straggler ending later is harmless
    expect(target.inFlight).toBe(0);
    expect(target.state).toBe('drained');
  });

  it('a timeout of 0 waits for ever', async () => {
    const time = new ManualScheduler();
    const target = new DrainableTarget({ scheduler: time });
    const release = target.acquire()!;
    const drained = watch(target.drain(0));
    expect(time.pendingTimers).toBe(0);
    await time.advance(3_600_000);
    expect(drained.settled).toBe(false);
    release();
    await time.advance(0);
    expect(drained.value?.reason).toBe('idle');
  });

  it('reactivate calls a drain off: the promise says so and requests are accepted again', async () => {
    const time = new ManualScheduler();
    const target = new DrainableTarget({ scheduler: time });
    target.acquire();
    const drained = watch(target.drain(5_000));
    expect(target.reactivate()).toBe(true);
    await time.advance(0);
    expect(drained.value).toEqual({ reason: 'reactivated', inFlight: 1, durationMs: 0 });
    expect(time.pendingTimers).toBe(0);
    expect(target.state).toBe('active');
    expect(target.acquire()).toBeTypeOf('function');
    expect(target.reactivate()).toBe(false);
  });
});
