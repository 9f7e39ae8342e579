import type { ErrorCode } from '../../core/error-codes.js';
import { GroundworkError } from '../../core/errors.js';

/** Input quoted back in an error message is cut to this many characters. */
export const MAX_QUOTED_CHARS = 40;

/** `text` cut to MAX_QUOTED_CHARS, JSON-quoted so control characters stay visible and inert. */
export function quote(text: string): string {
  const chars = Array.from(text);
  const clipped =
    chars.length > MAX_QUOTED_CHARS ? `${chars.slice(0, MAX_QUOTED_CHARS - 1).join('')}…` : text;
  return JSON.stringify(clipped);
}

/**
 * A filter/sort/cursor error. `at` (1-based column) is added to the detail and as the `position`
 * extension member, so clients can underline the spot.
 */
export function queryError(code: ErrorCode, message: string, at?: number): GroundworkError {
  if (at === undefined) return new GroundworkError(code, { detail: message });
  return new GroundworkError(code, { detail: `${message} (at column ${at})`, extensions: { position: at } });
}
