import type { Kysely } from 'kysely';
import type { AnyDb } from '../../db/database.js';

/** A response as stored for replay: the status, the headers that matter, and the exact body bytes. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What `begin` found for (scope, key). */
export type BeginOutcome =
  | { kind: 'acquired' }
  | { kind: 'in-progress' }
  | { kind: 'mismatch' }
  | { kind: 'completed'; response: StoredResponse };

export interface BeginInput {
  scope: string;
  key: string;
  fingerprint: string;
  nowMs: number;
  /** How long the acquirer holds the key before another request may take it over. */
  leaseMs: number;
  /** How long the key (and its stored response) lives. */
  ttlMs: number;
}

/**
 * The port: the smallest set of operations that must be atomic in the engine.
 * - `begin`: claim (scope, key) for this request, or report who holds it / what it stored.
 * - `complete`: store the response; pass `executor` to do it inside the caller's transaction, so
 *   the effect and the stored response commit or vanish together.
 * - `release`: forget an unfinished claim (the request failed before any effect).
 * - `sweep`: delete expired keys, at most `limit`; returns how many.
 */
export interface IdempotencyStore {
  begin(input: BeginInput): Promise<BeginOutcome>;
  complete(scope: string, key: string, response: StoredResponse, executor?: Kysely<AnyDb>): Promise<boolean>;
  release(scope: string, key: string): Promise<void>;
  sweep(nowMs: number, limit: number): Promise<number>;
}
