/**
 * The edge's health and failover mechanisms (issue 7 point 3), each self-contained: the proxy
 * composes them per upstream group and per target, and turns their events and counters into metrics.
 */
export * from './active-health-checker.js';
export * from './circuit-breaker.js';
export * from './drain.js';
export * from './outlier-detection.js';
export * from './probes.js';
export * from './retry-budget.js';
export * from './scheduler.js';
export * from './slow-start.js';
export * from './target-set.js';
export * from './upstream-outcome.js';
