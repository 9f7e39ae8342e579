import type { z } from 'zod';
import { GroundworkError } from '../../core/errors.js';

/** Parses a request body with a zod schema; a 400 listing every issue otherwise. */
export function validated<T extends z.ZodType>(schema: T, body: unknown, expected: string): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new GroundworkError('HTTP_ERR_VALIDATION', {
    detail: `Expected ${expected}.`,
    extensions: {
      errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), code: i.code, message: i.message })),
    },
  });
}
