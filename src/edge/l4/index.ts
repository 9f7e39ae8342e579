/**
 * The edge's L4 (TCP) mode, issue 7 point 6: TCP routes that balance raw connections over an
 * upstream group with health checks, retries of failed connects, limits, idle timeouts, draining and
 * an optional PROXY protocol header. Mount `tcpRoutesSchema` as `edge.tcp` and add one `TcpProxy`
 * to the lifecycle.
 */
export * from './proxy-protocol.js';
export * from './tcp-config.js';
export * from './tcp-metrics.js';
export * from './tcp-proxy.js';
export * from './tcp-route.js';
export * from './tcp-upstream-group.js';
