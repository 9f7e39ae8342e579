import { describe, expect, it } from 'vitest';
import { parseWrkOutput, parseWrkTimeMs } from './wrk.js';

// Captured from wrk 4.1.0 (Debian) on this machine, then varied in the units wrk can print.
const REPORT = `Running 10s test @ http://127.0.0.1:23456/healthz
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   705.12us  210.33us  12.01ms   93.10%
    Req/Sec    91.20k     3.10k   96.00k    79.00%
  Latency Distribution
     50%  640.00us
     75%  712.00us
     90%    0.86ms
     99%    1.42ms
  907552 requests in 10.00s, 146.00MB read
Requests/sec:  90751.32
Transfer/sec:     14.60MB
`;

describe('parseWrkOutput', () => {
  it('reads req/s, the latency distribution in ms, and the totals', () => {
    const result = parseWrkOutput(REPORT);
    expect(result.requestsPerSec).toBe(90751.32);
    expect(result.latencyMs).toEqual({ p50: 0.64, p75: 0.712, p90: 0.86, p99: 1.42 });
    expect(result.requests).toBe(907552);
    expect(result.durationS).toBe(10);
    expect(result.socketErrors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
    expect(result.non2xx3xx).toBe(0);
  });

  it('reads socket errors, non-2xx counts and second-scale latencies', () => {
    const result = parseWrkOutput(
      REPORT.replace('     99%    1.42ms', '     99%    2.01s')
        .replace('  907552 requests in 10.00s', '  907552 requests in 1.00m')
        .replace(
          'Requests/sec:',
          '  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 17\nRequests/sec:',
        ),
    );
    expect(result.latencyMs.p99).toBe(2010);
    expect(result.durationS).toBe(60);
    expect(result.socketErrors).toEqual({ connect: 1, read: 2, write: 3, timeout: 4 });
    expect(result.non2xx3xx).toBe(17);
  });

  it('refuses a report without --latency or without a result', () => {
    expect(() =>
      parseWrkOutput(REPORT.replace(/ {2}Latency Distribution[\s\S]*?(?= {2}907552)/, '')),
    ).toThrow(/no 50% latency line/);
    expect(() => parseWrkOutput(REPORT.replace(/Requests\/sec.*\n/, ''))).toThrow(/Requests\/sec/);
  });
});

describe('parseWrkTimeMs', () => {
  it.each([
    ['0.00us', 0],
    ['812.00us', 0.812],
    ['1.23ms', 1.23],
    ['2.01s', 2010],
    ['1.50m', 90_000],
    ['1.00h', 3_600_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseWrkTimeMs(text)).toBeCloseTo(ms, 9);
  });

  it('rejects other text', () => {
    expect(() => parseWrkTimeMs('1.2 ms')).toThrow();
    expect(() => parseWrkTimeMs('1.2ns')).toThrow();
  });
});
