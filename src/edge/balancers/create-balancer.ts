/**
 * Builds a balancer by name, for configuration (`edge.upstreams.*.balancer`) and the cluster
 * launcher's `--lb`. The algorithms, in one line each (details in each file):
 *
 * | name | picks | weights | per pick |
 * |---|---|---|---|
 * | `round-robin` | in turn | ignored | O(1) |
 * | `weighted-round-robin` | nginx's smooth WRR | exact | O(n) |
 * | `least-connections` | fewest in flight per weight; ties by smooth WRR | yes | O(n) |
 * | `peak-ewma` | lowest latency × (in flight + 1), Finagle's peak EWMA | ignored | O(n), or O(1) with `selection: 'p2c'` |
 * | `power-of-two-choices` | less loaded of two weighted random draws | yes | O(1) |
 * | `random` | weighted random | yes | O(1) |
 * | `ip-hash` | hash of the client IP, nginx's `ip_hash` | yes | O(log n) |
 * | `consistent-hash` | ring with virtual nodes, keyed by `hashKey` or client IP | yes (vnodes) | O(log points) |
 * | `maglev` | Maglev lookup table, keyed like `consistent-hash` | yes (entries) | O(1) |
 *
 * Sticky sessions wrap any of them: `new StickySessions(createBalancer(…), { secret })`.
 *
 * @example
 *   const lb = createBalancer('consistent-hash', { targets, vnodesPerWeight: 160 });
 *   const lb2 = createBalancer(config.balancer as string, { targets }); // validated at run time
 */
import {
  BALANCER_NAMES,
  type Balancer,
  type BalancerName,
  invalidBalancer,
  isBalancerName,
  type Target,
} from './balancer.js';
import { ConsistentHash, type ConsistentHashOptions } from './consistent-hash.js';
import { IpHash, type IpHashOptions } from './ip-hash.js';
import { LeastConnections, type LeastConnectionsOptions } from './least-connections.js';
import { Maglev, type MaglevOptions } from './maglev.js';
import { PeakEwma, type PeakEwmaOptions } from './peak-ewma.js';
import { PowerOfTwoChoices, type PowerOfTwoChoicesOptions } from './power-of-two-choices.js';
import { RandomBalancer, type RandomOptions } from './random.js';
import { RoundRobin, type RoundRobinOptions } from './round-robin.js';
import { WeightedRoundRobin, type WeightedRoundRobinOptions } from './weighted-round-robin.js';

/** Each algorithm's options (all include `targets`). */
export interface BalancerOptionsByName<T extends Target> {
  'round-robin': RoundRobinOptions<T>;
  'weighted-round-robin': WeightedRoundRobinOptions<T>;
  'least-connections': LeastConnectionsOptions<T>;
  'peak-ewma': PeakEwmaOptions<T>;
  'power-of-two-choices': PowerOfTwoChoicesOptions<T>;
  random: RandomOptions<T>;
  'ip-hash': IpHashOptions<T>;
  'consistent-hash': ConsistentHashOptions<T>;
  maglev: MaglevOptions<T>;
}

const constructors: {
  [N in BalancerName]: <T extends Target>(options: BalancerOptionsByName<T>[N]) => Balancer<T>;
} = {
  'round-robin': (options) => new RoundRobin(options),
  'weighted-round-robin': (options) => new WeightedRoundRobin(options),
  'least-connections': (options) => new LeastConnections(options),
  'peak-ewma': (options) => new PeakEwma(options),
  'power-of-two-choices': (options) => new PowerOfTwoChoices(options),
  random: (options) => new RandomBalancer(options),
  'ip-hash': (options) => new IpHash(options),
  'consistent-hash': (options) => new ConsistentHash(options),
  maglev: (options) => new Maglev(options),
};

/**
 * A new balancer of algorithm `name` over `options.targets`.
 *
 * @throws GroundworkError `EDGE_ERR_INVALID_BALANCER` for an unknown name, invalid targets or
 *   invalid options.
 */
export function createBalancer<T extends Target = Target, N extends BalancerName = BalancerName>(
  name: N,
  options?: BalancerOptionsByName<T>[N],
): Balancer<T>;
export function createBalancer<T extends Target = Target>(
  name: string,
  options?: BalancerOptionsByName<T>[BalancerName],
): Balancer<T>;
export function createBalancer<T extends Target>(
  name: string,
  options: BalancerOptionsByName<T>[BalancerName] = {},
): Balancer<T> {
  if (!isBalancerName(name)) {
    throw invalidBalancer(
      `unknown load-balancing algorithm ${JSON.stringify(name)}; expected one of ${BALANCER_NAMES.join(', ')}`,
    );
  }
  return (constructors[name] as <U extends Target>(o: typeof options) => Balancer<U>)<T>(options);
}
