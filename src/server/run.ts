import type { Platform } from './platform.js';

/**
 * Runs a started platform until SIGTERM or SIGINT, then drains and closes it. Resolves with the
 * exit code: 0 after a clean shutdown, 1 if closing failed. A second signal exits at once (130).
 */
export function runUntilSignal(platform: Platform): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        platform.logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      platform.logger.info({ signal }, 'shutting down: draining requests');
      platform.close().then(
        () => {
          platform.logger.info('shutdown complete');
          resolve(0);
        },
        (error: unknown) => {
          platform.logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
