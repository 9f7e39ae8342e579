import type { RateLimitAlgorithmName } from '../rate-limit-store.js';
import type { RateLimitAlgorithm } from './algorithm.js';
import { fixedWindow } from './fixed-window.js';
import { gcra } from './gcra.js';
import { slidingWindowCounter } from './sliding-window-counter.js';
import { slidingWindowLog } from './sliding-window-log.js';
import { tokenBucket } from './token-bucket.js';

/** Every algorithm by name; each one's state type is opaque to the stores that hold it. */
export const algorithms: Readonly<Record<RateLimitAlgorithmName, RateLimitAlgorithm<unknown>>> = {
  'fixed-window': fixedWindow,
  'sliding-window-log': slidingWindowLog,
  'sliding-window-counter': slidingWindowCounter,
  'token-bucket': tokenBucket,
  gcra,
};
