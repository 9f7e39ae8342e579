import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GroundworkError, toProblem } from '../../core/errors.js';
import { etagOf } from '../records/record-rows.js';
import type { RecordRouteDeps } from './records-routes.js';
import { sendWrite } from './write-transaction.js';

const operationSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('create'), collection: z.string().max(64), data: z.unknown() }),
  z.strictObject({
    op: z.enum(['update', 'replace']),
    collection: z.string().max(64),
    id: z.string().max(64),
    data: z.unknown(),
    ifMatch: z.string().max(256).optional(),
  }),
  z.strictObject({
    op: z.literal('delete'),
    collection: z.string().max(64),
    id: z.string().max(64),
    ifMatch: z.string().max(256).optional(),
  }),
]);

/**
 * `POST /api/v1/batch`: up to `data.maxBatchOperations` creates/updates/deletes across
 * collections, all or nothing, in one transaction. Each operation is checked against its
 * collection's rules as if sent alone. On success: 200 with `results[i] = { status, body?, etag? }`
 * in order. On the first failure: nothing is committed; DATA_ERR_BATCH_FAILED with `failedIndex`
 * and the operation's own problem under `error` (the response status is that problem's status).
 */
export function registerBatchRoute(app: FastifyInstance, deps: RecordRouteDeps) {
  app.post('/api/v1/batch', { config: { access: 'rules' } }, async (request, reply) => {
    const max = deps.limits.maxBatchOperations;
    const parsed = z
      .strictObject({ operations: z.array(z.unknown()).min(1).max(max) })
      .safeParse(request.body);
    if (!parsed.success)
      throw new GroundworkError('DATA_ERR_BATCH_INVALID', {
        detail: `The body must be {"operations": [...]} with 1 to ${max} operations.`,
      });
    const operations = parsed.data.operations.map((raw, index) => {
      const op = operationSchema.safeParse(raw);
      if (!op.success)
        throw new GroundworkError('DATA_ERR_BATCH_INVALID', {
          detail: `Operation ${index} is not a valid create/update/replace/delete operation.`,
          extensions: { failedIndex: index },
        });
      return op.data;
    });
    return sendWrite(deps, request, reply, async (w) => {
      const results: Record<string, unknown>[] = [];
      for (const [index, op] of operations.entries()) {
        try {
          const def = deps.registry.require(op.collection);
          if (op.op === 'create') {
            const stored = await deps.writer.create(w, def, op.data, request.principal);
            results.push({ status: 201, etag: etagOf(stored), body: stored.record });
          } else if (op.op === 'delete') {
            await deps.writer.delete(w, def, op.id, op.ifMatch, request.principal);
            results.push({ status: 204 });
          } else {
            const mode = op.op === 'update' ? 'patch' : 'replace';
            const stored = await deps.writer.update(
              w,
              def,
              op.id,
              op.data,
              mode,
              op.ifMatch,
              request.principal,
            );
            results.push({ status: 200, etag: etagOf(stored), body: stored.record });
          }
        } catch (error) {
          if (!(error instanceof GroundworkError) || error.status >= 500) throw error;
          throw new GroundworkError('DATA_ERR_BATCH_FAILED', {
            status: error.status,
            detail: `Operation ${index} failed (${error.code}); no operation was applied.`,
            extensions: { failedIndex: index, error: toProblem(error) },
          });
        }
      }
      return { status: 200, body: { results } };
    });
  });
}
