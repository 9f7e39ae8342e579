/**
 * Fault injection per route (issue 7 point 5), for tests and demos on machines without `tc netem`:
 * a share of requests is delayed (a fixed time plus uniform jitter) and/or answered at the edge with
 * an error status, without reaching any target (Envoy's fault filter, HTTP part). The delay counts
 * against the route's `timeouts.totalMs`; an aborted request is not sent upstream, so it touches no
 * target's health, breaker or retry budget.
 */
import { GroundworkError } from '../../core/errors.js';
import type { EdgeFaultConfig } from '../edge-config.js';

export interface FaultDecision {
  /** Milliseconds to wait before proxying (0: none). */
  readonly delayMs: number;
  /** Answer with this status instead of proxying; undefined: proxy. */
  readonly abortStatus: number | undefined;
}

const NONE: FaultDecision = Object.freeze({ delayMs: 0, abortStatus: undefined });

/**
 * Draws the faults of one request. `random` is uniform in [0, 1); each of delay, jitter and abort
 * takes its own draw, so their shares are independent.
 *
 * @example
 *   decideFault({ delay: { fixedMs: 100, jitterMs: 50, percent: 10 } }, Math.random);
 *   // 10% of calls: { delayMs: 100–150, abortStatus: undefined }; otherwise no fault
 */
export function decideFault(fault: EdgeFaultConfig | undefined, random: () => number): FaultDecision {
  if (fault === undefined) return NONE;
  let delayMs = 0;
  const delay = fault.delay;
  if (delay !== undefined && random() * 100 < delay.percent) {
    delayMs = delay.fixedMs + (delay.jitterMs > 0 ? Math.round(random() * delay.jitterMs) : 0);
  }
  const abort = fault.abort;
  const abortStatus = abort !== undefined && random() * 100 < abort.percent ? abort.status : undefined;
  return delayMs === 0 && abortStatus === undefined ? NONE : { delayMs, abortStatus };
}

/** The error answered for an injected abort: `EDGE_ERR_FAULT_INJECTED` with the configured status. */
export function injectedFault(status: number): GroundworkError {
  return new GroundworkError('EDGE_ERR_FAULT_INJECTED', {
    status,
    detail: 'This response was injected by the edge (fault injection is configured on this route).',
  });
}
