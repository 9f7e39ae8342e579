import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { GroundworkError, PROBLEM_CONTENT_TYPE, toProblem } from '../core/errors.js';

/** Fastify's own error codes, mapped onto Groundwork's registry. */
const FASTIFY_CODES: Record<string, ConstructorParameters<typeof GroundworkError>[0]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'HTTP_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'HTTP_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'HTTP_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'HTTP_ERR_INVALID_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'HTTP_ERR_INVALID_BODY',
  FST_ERR_BAD_URL: 'HTTP_ERR_BAD_REQUEST',
  FST_ERR_ASYNC_CONSTRAINT: 'HTTP_ERR_BAD_REQUEST',
};

/** Turns anything thrown into a GroundworkError; unknown errors become HTTP_ERR_INTERNAL. */
export function toGroundworkError(error: unknown): GroundworkError {
  if (error instanceof GroundworkError) return error;
  const fastifyError = error as FastifyError & { validation?: unknown[] };
  if (fastifyError?.validation) {
    return new GroundworkError('HTTP_ERR_VALIDATION', {
      detail: fastifyError.message,
      extensions: { errors: fastifyError.validation },
      cause: error,
    });
  }
  const mapped = fastifyError?.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return new GroundworkError(mapped, { cause: error });
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return new GroundworkError('HTTP_ERR_INVALID_BODY', {
      detail: 'The body is not valid JSON.',
      cause: error,
    });
  }
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new GroundworkError('HTTP_ERR_BAD_REQUEST', { status, cause: error });
  }
  return new GroundworkError('HTTP_ERR_INTERNAL', { cause: error });
}

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  error: GroundworkError,
): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  return reply
    .code(error.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(toProblem(error, String(request.id)));
}

/**
 * Every error response is RFC 9457 problem+json. Unknown routes get 404; a known path with the
 * wrong method gets 405 with `Allow` (RFC 9110 §15.5.6), found with a shadow router that mirrors
 * every registered route.
 */
export function installProblemHandlers(app: FastifyInstance): void {
  const shadow = FindMyWay({ ignoreTrailingSlash: false, caseSensitive: true });
  const noop = () => undefined;
  const methods = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      methods.add(method);
      try {
        shadow.on(method as HTTPMethod, route.url, noop);
      } catch {
        // Duplicate registrations (e.g. HEAD added for GET) are fine: the path is known.
      }
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const gwError = toGroundworkError(error);
    if (gwError.status >= 500) {
      request.log.error({ err: error, code: gwError.code }, 'request failed');
    } else {
      request.log.info({ code: gwError.code, reason: (error as Error).message }, 'request rejected');
    }
    return sendProblem(request, reply, gwError);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed: string[] = [];
    for (const method of methods) {
      if (method !== request.method && shadow.find(method as HTTPMethod, path)) allowed.push(method);
    }
    if (allowed.length > 0) {
      if (allowed.includes('GET') && !allowed.includes('HEAD')) allowed.push('HEAD');
      return sendProblem(
        request,
        reply,
        new GroundworkError('HTTP_ERR_METHOD_NOT_ALLOWED', {
          detail: `${request.method} is not allowed here.`,
          headers: { allow: allowed.sort().join(', ') },
        }),
      );
    }
    return sendProblem(
      request,
      reply,
      new GroundworkError('HTTP_ERR_NOT_FOUND', { detail: 'No route matches this path.' }),
    );
  });
}
