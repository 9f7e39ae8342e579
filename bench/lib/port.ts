/** Benchmarks pick ports the way the local cluster does: below the ephemeral range. */
export { freePort } from '../../src/net/free-port.js';
