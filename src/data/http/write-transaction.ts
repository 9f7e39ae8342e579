import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { AnyDb, Database } from '../../db/database.js';
import type { WrittenRecord } from '../cache/record-cache.js';
import type { GroupCommit } from '../outbox/group-commit.js';
import type { ChangeEvent, CommittedChange, Outbox } from '../outbox/outbox.js';
import type { WriteContext } from '../records/record-writes.js';

export interface WriteResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Records the work wrote, handed to `afterCommit` (write-through caching). */
  written?: readonly WrittenRecord[];
}

/**
 * Awaited after commit and before the response (cache invalidation): a rejection becomes the
 * response, although the change is committed. In-process outbox listeners have been told already.
 */
export type AfterCommit = (
  changes: readonly CommittedChange[],
  written: readonly WrittenRecord[],
) => Promise<void>;

/**
 * Runs a write handler in one transaction with everything that must commit with it: the outbox
 * events of the changes, and the stored response of an Idempotency-Key (so a retry after a crash
 * either replays this exact response or runs again — never a second effect). Listeners hear about
 * the changes only after commit; `afterCommit` runs after them, before the response is sent.
 */
export async function sendWrite(
  deps: { database: Database; outbox: Outbox; afterCommit?: AfterCommit | undefined },
  request: FastifyRequest,
  reply: FastifyReply,
  work: (w: WriteContext) => Promise<WriteResponse>,
): Promise<FastifyReply> {
  let committed: CommittedChange[] = [];
  const { response, text } = await deps.database.transaction(async (trx) => {
    const w: WriteContext = { trx: trx as unknown as Kysely<AnyDb>, events: [] };
    const response = await work(w);
    committed = await deps.outbox.append(w.trx, w.events);
    const idempotency = request.idempotency;
    const text =
      response.body === undefined
        ? undefined
        : idempotency
          ? await idempotency.complete(w.trx, response.status, response.body, response.headers)
          : JSON.stringify(response.body);
    return { response, text };
  });
  deps.outbox.publish(committed);
  await deps.afterCommit?.(committed, response.written ?? []);
  reply.code(response.status);
  if (response.headers) reply.headers(response.headers);
  if (text === undefined) return reply.send();
  return reply.type('application/json; charset=utf-8').send(text);
}

/**
 * A write of one row known in full beforehand (a blind create), group-committed with other such
 * writes (`GroupCommit`: one transaction, and on PostgreSQL one statement, for every create that
 * arrives together) with its outbox row, followed by the same after-commit steps as `sendWrite`:
 * listeners, then `afterCommit` (cache invalidation), then the response — each only after the
 * commit that holds this row. Callers use it only without an Idempotency-Key (whose stored
 * response must commit with the write).
 */
export async function sendGroupedWrite(
  deps: { groupCommit: GroupCommit; outbox: Outbox; afterCommit?: AfterCommit | undefined },
  reply: FastifyReply,
  write: {
    table: string;
    row: Readonly<Record<string, unknown>>;
    event: ChangeEvent;
    response: WriteResponse;
  },
): Promise<FastifyReply> {
  const text = JSON.stringify(write.response.body);
  // A create's event data is the record the response carries: its JSON is serialised once.
  const dataJson = write.event.data === write.response.body ? text : undefined;
  const committed = [await deps.groupCommit.submit({ ...write, dataJson })];
  deps.outbox.publish(committed);
  await deps.afterCommit?.(committed, write.response.written ?? []);
  reply.code(write.response.status);
  if (write.response.headers) reply.headers(write.response.headers);
  return reply.type('application/json; charset=utf-8').send(text);
}
