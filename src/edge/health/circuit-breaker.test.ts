import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../../core/errors.js';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitStateChange } from './circuit-breaker.js';
import { CONNECT_FAILURE, responseOutcome } from './upstream-outcome.js';

function setup(options: CircuitBreakerOptions = {}) {
  const clock = { now: 1_000_000 };
  const changes: CircuitStateChange[] = [];
  const breaker = new CircuitBreaker({
    clock: () => clock.now,
    onStateChange: (change) => changes.push(change),
    ...options,
  });
  const fail = (n = 1) => {
    for (let i = 0; i < n; i++) breaker.tryAcquire()!.failure();
  };
  const succeed = (n = 1) => {
    for (let i = 0; i < n; i++) breaker.tryAcquire()!.success();
  };
  return { clock, changes, breaker, fail, succeed };
}

describe('CircuitBreaker: closed → open', () => {
  it('trips after N consecutive failures; a success in between restarts the count', () => {
    const { breaker, fail, succeed, changes, clock } = setup({
      consecutiveFailures: 3,
      failureRateThreshold: 0,
    });
    fail(2);
    succeed();
    fail(2);
    expect(breaker.state).toBe('closed');
    fail();
    expect(breaker.state).toBe('open');
    expect(changes).toEqual([
      {
        from: 'closed',
        to: 'open',
        reason: 'consecutive-failures',
        atMs: clock.now,
        trips: 1,
        openUntilMs: clock.now + 5_000,
      },
    ]);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.available).toBe(false);
    expect(breaker.counters).toMatchObject({ failures: 5, successes: 1, rejected: 1, opened: 1 });
  });

  it('trips on the failure rate only once the window holds minimumRequests results', () => {
    const { breaker, fail, succeed, changes } = setup({
      consecutiveFailures: 0,
      failureRateThreshold: 0.5,
      minimumRequests: 20,
    });
    // Alternate so no consecutive rule could matter: 9 failures, 10 successes = 19 results.
    for (let i = 0; i < 9; i++) {
      succeed();
      fail();
    }
    succeed();
    expect(breaker.state).toBe('closed'); // 9/19 < 0.5, and below the minimum anyway
    fail(); // 10/20 = 0.5 ≥ 0.5 with 20 results
    expect(breaker.state).toBe('open');
    expect(changes[0]!.reason).toBe('failure-rate');
  });

  it('a high failure rate below minimumRequests does not trip', () => {
    const { breaker, fail } = setup({
      consecutiveFailures: 0,
      failureRateThreshold: 0.5,
      minimumRequests: 10,
    });
    fail(9);
    expect(breaker.state).toBe('closed');
    fail();
    expect(breaker.state).toBe('open');
  });

  it('failures older than the rolling window stop counting toward the rate', () => {
    const { breaker, fail, succeed, clock } = setup({
      consecutiveFailures: 0,
      failureRateThreshold: 0.5,
      minimumRequests: 4,
      windowMs: 1_000,
      windowBuckets: 10,
    });
    fail();
    succeed();
    fail();
    clock.now += 1_000; // all three fall out of the window
    succeed(3);
    fail(); // 1/4 in the window
    expect(breaker.state).toBe('closed');
    fail(); // 2/5
    expect(breaker.state).toBe('closed');
    fail(); // 3/6 = 0.5
    expect(breaker.state).toBe('open');
  });

  it('report(outcome) counts 5xx and local-origin failures as failures, other statuses as successes', () => {
    const { breaker } = setup({ consecutiveFailures: 2, failureRateThreshold: 0 });
    breaker.tryAcquire()!.report(responseOutcome(503));
    breaker.tryAcquire()!.report(responseOutcome(404));
    breaker.tryAcquire()!.report(CONNECT_FAILURE);
    expect(breaker.state).toBe('closed');
    breaker.tryAcquire()!.report(responseOutcome(500));
    expect(breaker.state).toBe('open');
  });
});

describe('CircuitBreaker: open → half-open → closed / open', () => {
  it('half-open after the cool-down lets exactly halfOpenMaxTrials through and closes after the successes', () => {
    const { breaker, fail, clock, changes } = setup({
      consecutiveFailures: 1,
      failureRateThreshold: 0,
      openMs: 1_000,
      halfOpenMaxTrials: 3,
      halfOpenSuccesses: 2,
    });
    fail();
    clock.now += 999;
    expect(breaker.state).toBe('open');
    clock.now += 1;
    expect(breaker.state).toBe('half-open');
    expect(changes.at(-1)).toMatchObject({ from: 'open', to: 'half-open', reason: 'cool-down-elapsed' });
    const trials = [breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire()];
    expect(trials.every((p) => p?.trial === true)).toBe(true);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.available).toBe(false);
    trials[0]!.success();
    expect(breaker.state).toBe('half-open');
    trials[1]!.success();
    expect(breaker.state).toBe('closed');
    expect(changes.at(-1)).toMatchObject({ from: 'half-open', to: 'closed', reason: 'trials-succeeded' });
    // The third trial's late failure belongs to the half-open period: it changes nothing now.
    trials[2]!.failure();
    expect(breaker.state).toBe('closed');
    expect(breaker.counters.stale).toBe(1);
  });

  it('a failed trial reopens with a cool-down that doubles per trip and stops at maxOpenMs', () => {
    const { breaker, fail, clock, changes } = setup({
      consecutiveFailures: 1,
      failureRateThreshold: 0,
      openMs: 1_000,
      maxOpenMs: 5_000,
    });
    fail();
    const coolDowns: number[] = [];
    for (let trip = 0; trip < 5; trip++) {
      const open = changes.at(-1)!;
      expect(open.to).toBe('open');
      coolDowns.push(open.openUntilMs! - open.atMs);
      clock.now = open.openUntilMs!;
      const trial = breaker.tryAcquire();
      expect(trial?.trial).toBe(true);
      trial!.failure();
      expect(changes.at(-1)!.reason).toBe('trial-failed');
    }
    expect(coolDowns).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(breaker.trips).toBe(6);
  });

  it('earlier trips are forgotten once the breaker stays closed for tripMemoryMs', () => {
    const { breaker, fail, clock, changes } = setup({
      consecutiveFailures: 1,
      failureRateThreshold: 0,
      openMs: 1_000,
      tripMemoryMs: 10_000,
    });
    const coolDownOfNextTrip = () => {
      fail();
      const open = changes.at(-1)!;
      clock.now = open.openUntilMs!;
      breaker.tryAcquire()!.success(); // closes
      return open.openUntilMs! - open.atMs;
    };
    expect(coolDownOfNextTrip()).toBe(1_000);
    clock.now += 9_999; // closed for less than the memory
    expect(coolDownOfNextTrip()).toBe(2_000);
    clock.now += 10_000; // closed for the whole memory
    expect(coolDownOfNextTrip()).toBe(1_000);
  });

  it('a released trial gives its slot back; a permit from before the trip cannot close the breaker', () => {
    const { breaker, clock } = setup({ consecutiveFailures: 2, failureRateThreshold: 0, openMs: 100 });
    const early = breaker.tryAcquire()!;
    breaker.tryAcquire()!.failure();
    breaker.tryAcquire()!.failure();
    expect(breaker.state).toBe('open');
    clock.now += 100;
    const trial = breaker.tryAcquire()!;
    expect(breaker.tryAcquire()).toBeUndefined();
    early.success(); // issued while closed, before the trip: stale
    expect(breaker.state).toBe('half-open');
    trial.release();
    const second = breaker.tryAcquire();
    expect(second?.trial).toBe(true);
    second!.success();
    expect(breaker.state).toBe('closed');
  });

  it('a permit settles once: later calls are ignored', () => {
    const { breaker } = setup({ consecutiveFailures: 2, failureRateThreshold: 0 });
    const permit = breaker.tryAcquire()!;
    permit.failure();
    permit.failure();
    permit.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.counters).toMatchObject({ failures: 1, successes: 0 });
  });

  it('reset() closes an open breaker and forgets the trips', () => {
    const { breaker, fail, changes } = setup({
      consecutiveFailures: 1,
      failureRateThreshold: 0,
      openMs: 1_000,
    });
    fail();
    breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(changes.at(-1)).toMatchObject({ to: 'closed', reason: 'reset' });
    fail();
    expect(changes.at(-1)!.openUntilMs! - changes.at(-1)!.atMs).toBe(1_000);
  });
});

describe('CircuitBreaker: invariants under random use', () => {
  it('never has more trial permits out than halfOpenMaxTrials, and is open exactly until openUntilMs', () => {
    const op = fc.oneof(
      fc.constant({ kind: 'acquire' as const }),
      fc.record({
        kind: fc.constant('settle' as const),
        result: fc.constantFrom('success', 'failure', 'release'),
      }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 200 }), (maxTrials, ops) => {
        const { breaker, clock, changes } = setup({
          consecutiveFailures: 2,
          failureRateThreshold: 0,
          openMs: 500,
          maxOpenMs: 2_000,
          halfOpenMaxTrials: maxTrials,
        });
        // Each permit with the number of state changes seen when it was issued: its state period.
        const outstanding: {
          permit: NonNullable<ReturnType<CircuitBreaker['tryAcquire']>>;
          period: number;
        }[] = [];
        for (const step of ops) {
          if (step.kind === 'wait') clock.now += step.ms;
          else if (step.kind === 'acquire') {
            const permit = breaker.tryAcquire();
            if (permit) outstanding.push({ permit, period: changes.length });
          } else {
            outstanding.shift()?.permit[step.result]();
          }
          const state = breaker.state;
          const last = changes.at(-1);
          if (last?.to === 'open') expect(state === 'open').toBe(clock.now < last.openUntilMs!);
          if (state === 'half-open') {
            const trialsOut = outstanding.filter((o) => o.permit.trial && o.period === changes.length).length;
            expect(trialsOut).toBeLessThanOrEqual(maxTrials);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('CircuitBreaker: options', () => {
  it('rejects invalid options with EDGE_ERR_INVALID_HEALTH_OPTIONS naming the option', () => {
    const bad: CircuitBreakerOptions[] = [
      { consecutiveFailures: -1 },
      { consecutiveFailures: 1.5 },
      { failureRateThreshold: 1.1 },
      { openMs: 10_000, maxOpenMs: 5_000 },
      { halfOpenMaxTrials: 1, halfOpenSuccesses: 2 },
      { consecutiveFailures: 0, failureRateThreshold: 0 },
      { windowMs: Number.NaN },
    ];
    for (const options of bad) {
      let caught: unknown;
      try {
        new CircuitBreaker(options);
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(options)).toBeInstanceOf(GroundworkError);
      expect((caught as GroundworkError).code).toBe('EDGE_ERR_INVALID_HEALTH_OPTIONS');
    }
  });
});
