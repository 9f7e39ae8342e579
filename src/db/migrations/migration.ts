import type { Kysely } from 'kysely';
import type { AnyDb, DialectName } from '../database.js';

/**
 * A versioned schema change. `id` sorts in apply order (`0001_name`). `up` runs inside the
 * runner's transaction on its locked connection; branch on `dialect` where SQL differs.
 */
export interface Migration {
  readonly id: string;
  up(db: Kysely<AnyDb>, dialect: DialectName): Promise<void>;
}
