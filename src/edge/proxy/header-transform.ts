/**
 * Per-route header transforms of the edge (`edge.routes[].transform`): fields set on or removed from
 * the request sent upstream and the response sent back, applied to the header lists the proxy
 * already builds, so no body is touched or buffered.
 *
 * - **Request** edits run on the upstream header list after the edge has added its forwarding
 *   fields (`X-Forwarded-*`, `Forwarded`, `Via`): `remove` drops every field of those names, `set`
 *   replaces every field of its name with one field (names matched case-insensitively, order of the
 *   other fields kept).
 * - **Response** edits run on the upstream response's headers (hop-by-hop fields already dropped,
 *   `Via` added), before the edge's own additions: the sticky-session cookie, and on routes behind
 *   the gateway its headers (request id, CORS, RateLimit; security headers where the response has
 *   none). Errors the edge answers itself (502/503/504, fault injection) are not transformed, nor is
 *   a WebSocket's `101` response.
 *
 * **Names that cannot be edited** (`headerEditProblem`, enforced by the config schema): the
 * connection and framing fields — the hop-by-hop ones (RFC 9110 §7.6.1), `Content-Length` and
 * `Transfer-Encoding` — belong to each hop's HTTP stack, and changing them would desynchronise the
 * message from its body (request smuggling, truncated responses); `Host` upstream is the group's
 * `preserveHost` decision; `Expect` never goes upstream (the edge has answered `100 Continue`). The
 * forwarding fields and `Via` may be removed (not telling an upstream who the client is) but not
 * set: the edge writes them from the connection and `gateway.trustedProxies`, and a fixed value
 * would forge what upstreams trust.
 */
import { HOP_BY_HOP } from './forwarding-headers.js';

export interface HeaderEdits {
  /** Field name → value: every field of that name is replaced by this one. */
  readonly set?: Readonly<Record<string, string>>;
  /** Field names dropped. */
  readonly remove?: readonly string[];
}

export type HeaderDirection = 'request' | 'response';

/** Edits the flat `[name, value, …]` upstream request list; returns the list to send. */
export type RequestHeaderTransform = (headers: string[]) => string[];

/** Edits the lower-case response header object in place. */
export type ResponseHeaderTransform = (headers: Record<string, string | string[]>) => void;

/** Connection management and message framing: never edited, in either direction. */
const CONNECTION_AND_FRAMING: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length']);

/** Written by the edge from the connection: may be removed, not set. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via']);

/**
 * Why `name` may not be edited by `action` in `direction`, or undefined when it may (the rules in
 * the header comment). `name` in any case.
 */
export function headerEditProblem(
  direction: HeaderDirection,
  action: 'set' | 'remove',
  name: string,
): string | undefined {
  const lower = name.toLowerCase();
  if (lower === '__proto__') return '"__proto__" cannot be a header name here';
  if (CONNECTION_AND_FRAMING.has(lower)) {
    return `"${name}" is a connection or framing field, owned by each hop's HTTP stack`;
  }
  if (direction === 'request' && lower === 'host') {
    return "the upstream Host is set by the group's `preserveHost` (the client's Host, or the target's host:port)";
  }
  if (direction === 'request' && lower === 'expect') {
    return '"expect" never goes upstream (the edge has answered 100 Continue itself)';
  }
  if (action === 'set' && FORWARDING.has(lower) && (direction === 'request' || lower === 'via')) {
    return `"${name}" is written by the edge from the connection and gateway.trustedProxies: it may be removed, not set`;
  }
  return undefined;
}

/** The request edits as one function, or undefined when there are none. */
export function compileRequestTransform(edits: HeaderEdits | undefined): RequestHeaderTransform | undefined {
  const set = Object.entries(edits?.set ?? {});
  const drop = new Set([...(edits?.remove ?? []), ...set.map(([name]) => name)].map((n) => n.toLowerCase()));
  if (drop.size === 0) return undefined;
  // Only names of a dropped length are lower-cased: most fields are skipped on a length compare.
  const lengths = new Set([...drop].map((name) => name.length));
  const added = set.flat();
  return (headers) => {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      if (lengths.has(name.length) && drop.has(name.toLowerCase())) continue;
      out.push(name, headers[i + 1]!);
    }
    for (const field of added) out.push(field);
    return out;
  };
}

/** The response edits as one function, or undefined when there are none. */
export function compileResponseTransform(
  edits: HeaderEdits | undefined,
): ResponseHeaderTransform | undefined {
  const set = Object.entries(edits?.set ?? {}).map(([name, value]) => [name.toLowerCase(), value] as const);
  const remove = (edits?.remove ?? []).map((name) => name.toLowerCase());
  if (set.length === 0 && remove.length === 0) return undefined;
  return (headers) => {
    for (const name of remove) delete headers[name];
    for (const [name, value] of set) headers[name] = value;
  };
}
