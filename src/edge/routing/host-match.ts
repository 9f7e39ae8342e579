/**
 * Host matching for edge routes: exact names and `*.example.com` wildcards (any subdomain, at any
 * depth, as nginx's `server_name *.example.com`; not `example.com` itself), and `requestHost`, which
 * reads the host a request is for: `Host` on HTTP/1.1, `:authority` on HTTP/2, without the port,
 * lower-cased and without a trailing dot, so `API.Example.com.:443` matches `api.example.com`.
 */

export type HostMatcher = (host: string) => boolean;

/** A matcher for a list of exact names and `*.suffix` wildcards (already lower-case). */
export function compileHost(patterns: readonly string[]): HostMatcher {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const pattern of patterns) {
    if (pattern.startsWith('*.')) suffixes.push(pattern.slice(1));
    else exact.add(pattern);
  }
  return (host) => {
    if (exact.has(host)) return true;
    for (const suffix of suffixes) {
      if (host.length > suffix.length && host.endsWith(suffix)) return true;
    }
    return false;
  };
}

/** The request's host without port, lower case, trailing dot removed; undefined when absent. */
export function requestHost(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined {
  const raw = headers[':authority'] ?? headers.host;
  if (typeof raw !== 'string' || raw === '') return undefined;
  let host: string;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const close = raw.indexOf(']');
    host = close === -1 ? raw : raw.slice(0, close + 1);
  } else {
    const colon = raw.indexOf(':');
    host = colon === -1 ? raw : raw.slice(0, colon);
  }
  host = host.toLowerCase();
  return host.endsWith('.') ? host.slice(0, -1) : host;
}
