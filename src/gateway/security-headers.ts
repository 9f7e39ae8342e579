export interface SecurityHeadersOptions {
  /**
   * The connection is TLS. Accepted so callers can pass the request's facts as they are; HSTS itself
   * (`Strict-Transport-Security: max-age=<server.tls.hstsMaxAgeS>; includeSubDomains`) is added by the
   * HTTP server on every TLS response (`src/net/http-app.ts`), not here, so it exists even for
   * responses that never reach the gateway (404s, parse errors).
   */
  tls: boolean;
  /** See `tls`: informational; HSTS is the server's. */
  hstsMaxAgeS: number;
  /**
   * The response's `Content-Type`. `text/html` and `application/xhtml+xml` get the strict document
   * CSP; any other type gets `default-src 'none'`. Absent (a 204 or 304 with no body): no CSP at all —
   * a 304 updates the headers of the cached response (RFC 9111 §4.3.4), and a `default-src 'none'`
   * sent on it would replace the cached HTML page's CSP and break the page.
   */
  contentType?: string | undefined;
  /** Who may frame the response: nobody (default) or same-origin pages. */
  frameAncestors?: 'none' | 'self' | undefined;
  /**
   * `Cross-Origin-Resource-Policy` (Fetch, #cross-origin-resource-policy-header). Default `'same-origin'`. The check runs only for
   * `no-cors` requests (`<img>`, `<script>`, `<video>` without `crossorigin`): CORS requests
   * (`fetch()`, XHR, EventSource) and navigations are not affected, so allowed cross-origin API calls
   * keep working. What it blocks is another site pulling our responses into its process as opaque
   * subresources (XSSI, Spectre-style reads). Routes that serve files meant to be embedded elsewhere
   * (public storage objects) should pass `'cross-origin'`.
   */
  crossOriginResourcePolicy?: 'same-origin' | 'same-site' | 'cross-origin' | undefined;
}

/** The document policy for HTML: everything from our origin only, no plugins, no `<base>` hijack. */
function htmlPolicy(frameAncestors: string): string {
  return `default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors ${frameAncestors}; form-action 'self'`;
}

/**
 * Security headers for one response (names lower-case):
 *
 * - `x-content-type-options: nosniff` — browsers honour the declared type, no sniffing JSON into
 *   HTML or script (Fetch, #x-content-type-options-header).
 * - `referrer-policy: strict-origin-when-cross-origin` — other sites see only our origin, nothing on
 *   HTTPS→HTTP. Not `no-referrer`: under `no-referrer` a browser sends `Origin: null` on non-CORS
 *   POSTs, even same-origin form posts (Fetch "append a request `Origin` header", #origin-header), which would
 *   defeat Origin-based CSRF checks on the admin dashboard's forms.
 * - `x-frame-options: DENY` (or `SAMEORIGIN`) for old browsers, and CSP `frame-ancestors`, which
 *   supersedes it where supported (CSP Level 3, #directive-frame-ancestors).
 * - `content-security-policy`: for HTML, `default-src 'self'; script-src 'self'; object-src 'none';
 *   base-uri 'none'; frame-ancestors 'none'; form-action 'self'`; for anything else
 *   `default-src 'none'; frame-ancestors 'none'` (OWASP REST Security Cheat Sheet, "Security
 *   Headers") — an API response rendered as a document can load nothing and run nothing.
 * - `cross-origin-resource-policy` — see {@link SecurityHeadersOptions.crossOriginResourcePolicy}.
 *
 * HSTS is not set here (see {@link SecurityHeadersOptions.tls}).
 *
 * @example
 *   securityHeaders({ tls: true, hstsMaxAgeS: 31_536_000, contentType: 'application/json; charset=utf-8' });
 *   // { 'x-content-type-options': 'nosniff', 'referrer-policy': 'strict-origin-when-cross-origin',
 *   //   'x-frame-options': 'DENY', 'cross-origin-resource-policy': 'same-origin',
 *   //   'content-security-policy': "default-src 'none'; frame-ancestors 'none'" }
 */
export function securityHeaders(options: SecurityHeadersOptions): Record<string, string> {
  const self = options.frameAncestors === 'self';
  const frameAncestors = self ? "'self'" : "'none'";
  const headers: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'x-frame-options': self ? 'SAMEORIGIN' : 'DENY',
    'cross-origin-resource-policy': options.crossOriginResourcePolicy ?? 'same-origin',
  };
  if (options.contentType !== undefined && options.contentType.trim() !== '') {
    headers['content-security-policy'] = isDocument(options.contentType)
      ? htmlPolicy(frameAncestors)
      : `default-src 'none'; frame-ancestors ${frameAncestors}`;
  }
  return headers;
}

const defaultsByType = new Map<string | undefined, Readonly<Record<string, string>>>();

/**
 * {@link securityHeaders} with the default options (`DENY`, `same-origin`) for a response's
 * `Content-Type`, computed once per type (a handful of types recur) and shared: do not modify it.
 */
export function defaultSecurityHeaders(contentType: string | undefined): Readonly<Record<string, string>> {
  let headers = defaultsByType.get(contentType);
  if (headers === undefined) {
    headers = Object.freeze(
      securityHeaders({ tls: false, hstsMaxAgeS: 0, ...(contentType !== undefined ? { contentType } : {}) }),
    );
    // Content types come from routes and upstreams: bound the cache rather than trust their variety.
    if (defaultsByType.size >= 64) defaultsByType.clear();
    defaultsByType.set(contentType, headers);
  }
  return headers;
}

/** The media type's essence (RFC 9110 §8.3.1: type/subtype, case-insensitive, before any `;`). */
function isDocument(contentType: string): boolean {
  const essence = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return essence === 'text/html' || essence === 'application/xhtml+xml';
}
