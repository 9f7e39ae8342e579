import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/harness/engines.js';
import { ManualScheduler, systemScheduler } from './scheduler.js';

describe('ManualScheduler', () => {
  it('fires due timers in time order (ties in order set), at their own time, including timers they set', async () => {
    const time = new ManualScheduler(100);
    const fired: [string, number][] = [];
    time.setTimeout(() => fired.push(['b', time.now()]), 50);
    time.setTimeout(() => fired.push(['a', time.now()]), 10);
    time.setTimeout(() => fired.push(['b2', time.now()]), 50);
    time.setTimeout(() => {
      fired.push(['c', time.now()]);
      time.setTimeout(() => fired.push(['c+5', time.now()]), 5);
    }, 20);
    const cancel = time.setTimeout(() => fired.push(['cancelled', time.now()]), 30);
    cancel();
    cancel();
    await time.advance(49);
    expect(fired).toEqual([
      ['a', 110],
      ['c', 120],
      ['c+5', 125],
    ]);
    expect(time.now()).toBe(149);
    await time.advance(1);
    expect(fired.slice(3)).toEqual([
      ['b', 150],
      ['b2', 150],
    ]);
    expect(time.pendingTimers).toBe(0);
    expect(time.nextDueMs).toBeUndefined();
  });

  it('lets promise chains started by a timer settle before the next timer', async () => {
    const time = new ManualScheduler();
    const log: string[] = [];
    time.setTimeout(() => {
      void Promise.resolve()
        .then(() => log.push('step 1'))
        .then(() => log.push('step 2'));
    }, 10);
    time.setTimeout(() => log.push('next timer'), 10);
    await time.advance(10);
    expect(log).toEqual(['step 1', 'step 2', 'next timer']);
  });
});

describe('systemScheduler', () => {
  it('fires real timers and cancels them', async () => {
    let fired = 0;
    let cancelledFired = 0;
    const cancel = systemScheduler.setTimeout(() => cancelledFired++, 5);
    cancel();
    systemScheduler.setTimeout(() => fired++, 10);
    await waitFor(() => fired === 1, { timeoutMs: 2_000, intervalMs: 5, what: 'the timer' });
    expect(cancelledFired).toBe(0);
    expect(Math.abs(systemScheduler.now() - Date.now())).toBeLessThan(50);
  });
});
