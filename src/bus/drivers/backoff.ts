/**
 * Reconnection delays for the remote bus drivers: exponential from `minMs`, capped at `maxMs`,
 * with "equal jitter" (half fixed, half random) so the nodes of a cluster that lost the same engine
 * do not reconnect in lockstep, yet never wait less than half the nominal delay.
 */
export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  minMs: number;
  /** Upper bound of any delay, ms. */
  maxMs: number;
}

/** Delay before retry number `attempt` (1 for the first retry). `random` returns [0, 1). */
export function backoffDelayMs(
  attempt: number,
  { minMs, maxMs }: BackoffOptions,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(nominal / 2 + (random() * nominal) / 2);
}
