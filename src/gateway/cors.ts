import { GroundworkError } from '../core/errors.js';

/**
 * CORS, the server half of the Fetch standard's CORS protocol
 * (https://fetch.spec.whatwg.org/#http-cors-protocol). The browser enforces; the server only
 * says, per request, which origin may read the response and what a preflight permits.
 */
export interface CorsOptions {
  /**
   * Who may call: exact origins (`'https://app.example.com'`), wildcard subdomains
   * (`'https://*.example.com'`: any depth of subdomain, never the apex, same scheme and port), regular
   * expressions written between slashes (`'/^https:\\/\\/.+\\.test$/'`, flags `i s u v` allowed,
   * always matched against the whole serialised origin), the literal `'null'`, or `['*']` alone
   * (any origin, answered with `*`; refused together with `credentials`).
   */
  origins: readonly string[];
  /** Methods a preflight may ask for (upper-cased); `['*']` allows any. */
  methods: readonly string[];
  /** Request headers a preflight may ask for (case-insensitive), or `'*'` for any. */
  allowedHeaders: readonly string[] | '*';
  /** Response headers scripts may read beyond the CORS-safelisted ones (`Access-Control-Expose-Headers`). */
  exposedHeaders: readonly string[];
  /** Allow cookies/HTTP auth (`Access-Control-Allow-Credentials: true`). */
  credentials: boolean;
  /** `Access-Control-Max-Age` in seconds; 0 means browsers must not cache preflights. Browsers cap it (Chromium: 7200). */
  maxAgeS: number;
}

/** A validated, pre-computed CORS policy; build it once with {@link compileCors}. */
export interface CompiledCors {
  /** `origins: ['*']`: every origin, answered with `Access-Control-Allow-Origin: *`. */
  readonly anyOrigin: boolean;
  readonly allowNull: boolean;
  /** Exact origins, serialised (lower-case scheme and host, no default port). */
  readonly exactOrigins: ReadonlySet<string>;
  readonly wildcardOrigins: readonly WildcardOrigin[];
  readonly originPatterns: readonly RegExp[];
  readonly anyMethod: boolean;
  readonly methods: ReadonlySet<string>;
  /** `undefined` means `'*'`. */
  readonly allowedHeaders: ReadonlySet<string> | undefined;
  readonly credentials: boolean;
  readonly maxAgeS: number;
  readonly methodsValue: string;
  readonly allowedHeadersValue: string;
  readonly exposedHeadersValue: string;
}

export interface WildcardOrigin {
  /** `https://` */
  readonly prefix: string;
  /** `.example.com` or `.example.com:8443` */
  readonly suffix: string;
}

export interface CorsRequest {
  method: string;
  origin?: string | undefined;
  accessControlRequestMethod?: string | undefined;
  accessControlRequestHeaders?: string | undefined;
}

export interface CorsDecision {
  /** `none`: no `Origin` header; `preflight`: OPTIONS with Origin and Access-Control-Request-Method; `simple`: any other request with an Origin. */
  kind: 'none' | 'simple' | 'preflight';
  /**
   * Whether the response may be shared with the calling origin. For `kind: 'none'` it is true only
   * under `['*']` (the response is public and says so). Invariant: `allowed: false` ⇒ no
   * `access-control-*` header.
   */
  allowed: boolean;
  /** Response headers to add, names lower-case. `vary` must be merged with any other `Vary` value, not replace it. */
  headers: Record<string, string>;
}

const VARY_ORIGIN = 'Origin';
const VARY_PREFLIGHT = 'Access-Control-Request-Method, Access-Control-Request-Headers';
/** Longer Origin values are refused before any pattern runs (real origins are far shorter). */
const MAX_ORIGIN_LENGTH = 2048;
/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ORIGIN_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/?#@:[\]\\]+)(?::(\d{1,5}))?$/;
const WILDCARD_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/\*\.([^\s/?#@:[\]\\*]+)(?::(\d{1,5}))?$/;
const REGEX_SHAPE = /^\/(.+)\/([a-z]*)$/s;
const SAFE_REGEX_FLAGS = /^[isuv]*$/;
/** Subdomain labels in front of a wildcard suffix: one or more, none empty. */
const SUBDOMAINS = /^[^.:/[\]]+(?:\.[^.:/[\]]+)*$/;

/**
 * Validates and compiles a CORS policy. Regexes are compiled once, here.
 *
 * @example
 *   const cors = compileCors({
 *     origins: ['https://app.example.com', 'https://*.example.org', '/^https:\\/\\/pr-\\d+\\.preview\\.test$/'],
 *     methods: ['GET', 'POST'],
 *     allowedHeaders: ['content-type', 'authorization'],
 *     exposedHeaders: ['ratelimit', 'ratelimit-policy'],
 *     credentials: true,
 *     maxAgeS: 600,
 *   });
 *
 * @throws GroundworkError `GATEWAY_ERR_INVALID_CORS` naming the offending entry.
 */
export function compileCors(options: CorsOptions): CompiledCors {
  const credentials = options.credentials === true;
  const origins = options.origins.map((o) => o.trim());
  const anyOrigin = origins.includes('*');
  if (anyOrigin && origins.length > 1) {
    throw invalidCors(`origins: "*" must be the only entry, got ${JSON.stringify(options.origins)}`);
  }
  // Fetch "HTTP responses" (#http-responses): `Access-Control-Allow-Origin: *` never satisfies a request with credentials, and
  // echoing every origin instead would hand any site the user's session.
  if (anyOrigin && credentials) {
    throw invalidCors(
      'origins ["*"] cannot be combined with credentials: true; list the origins that may send credentials',
    );
  }

  let allowNull = false;
  const exactOrigins = new Set<string>();
  const wildcardOrigins: WildcardOrigin[] = [];
  const originPatterns: RegExp[] = [];
  if (!anyOrigin) {
    for (const entry of origins) {
      if (entry === 'null') {
        allowNull = true;
      } else if (entry.startsWith('/')) {
        originPatterns.push(compilePattern(entry));
      } else if (entry.includes('*')) {
        wildcardOrigins.push(compileWildcard(entry));
      } else {
        const serialised = serialiseOrigin(entry);
        if (serialised === undefined) {
          throw invalidCors(
            `origin ${JSON.stringify(entry)} is not scheme://host[:port] (an origin has no path, not even "/")`,
          );
        }
        exactOrigins.add(serialised);
      }
    }
  }

  const methodList = options.methods.map((m) => m.trim().toUpperCase());
  for (const m of methodList) {
    if (!TOKEN.test(m)) throw invalidCors(`method ${JSON.stringify(m)} is not an HTTP token`);
  }
  const anyMethod = methodList.includes('*');
  if (anyMethod && methodList.length > 1) throw invalidCors('methods: "*" must be the only entry');

  let allowedHeaders: Set<string> | undefined;
  if (options.allowedHeaders !== '*') {
    allowedHeaders = new Set(headerNames(options.allowedHeaders, 'allowedHeaders'));
    if (allowedHeaders.has('*')) throw invalidCors('allowedHeaders: write "*" instead of ["*"]');
  }
  const exposed = headerNames(options.exposedHeaders, 'exposedHeaders');
  // Fetch "HTTP responses": `*` in Access-Control-Expose-Headers is a wildcard only without credentials.
  if (exposed.includes('*') && credentials) {
    throw invalidCors('exposedHeaders "*" is not honoured with credentials: true; list the headers');
  }

  if (!Number.isInteger(options.maxAgeS) || options.maxAgeS < 0) {
    throw invalidCors(`maxAgeS must be a non-negative integer, got ${String(options.maxAgeS)}`);
  }

  return Object.freeze({
    anyOrigin,
    allowNull,
    exactOrigins,
    wildcardOrigins: Object.freeze(wildcardOrigins),
    originPatterns: Object.freeze(originPatterns),
    anyMethod,
    methods: new Set(methodList),
    allowedHeaders,
    credentials,
    maxAgeS: options.maxAgeS,
    methodsValue: methodList.join(', '),
    allowedHeadersValue: allowedHeaders ? [...allowedHeaders].join(', ') : '*',
    exposedHeadersValue: exposed.join(', '),
  });
}

function headerNames(names: readonly string[], field: string): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (!TOKEN.test(name)) throw invalidCors(`${field}: ${JSON.stringify(raw)} is not a header name`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

function compilePattern(entry: string): RegExp {
  const shape = REGEX_SHAPE.exec(entry);
  if (!shape) throw invalidCors(`origin pattern ${JSON.stringify(entry)} must look like /regex/flags`);
  const flags = shape[2]!;
  // `g`/`y` make RegExp#test stateful (lastIndex); `m` lets ^/$ match inside the value.
  if (!SAFE_REGEX_FLAGS.test(flags)) {
    throw invalidCors(`origin pattern ${JSON.stringify(entry)}: only the flags i, s, u, v are allowed`);
  }
  try {
    // Anchored whatever the author wrote: an unanchored /example\.com/ would otherwise also admit
    // https://example.com.evil.net. The pattern must match the whole serialised origin.
    return new RegExp(`^(?:${shape[1]})$`, flags);
  } catch (error) {
    throw invalidCors(`origin pattern ${JSON.stringify(entry)} does not compile`, error);
  }
}

function compileWildcard(entry: string): WildcardOrigin {
  const shape = WILDCARD_SHAPE.exec(entry);
  if (!shape) {
    throw invalidCors(
      `wildcard origin ${JSON.stringify(entry)} must be scheme://*.domain[:port], "*." only at the start of the host`,
    );
  }
  const port = shape[3] === undefined ? '' : `:${shape[3]}`;
  const serialised = serialiseOrigin(`${shape[1]}://${shape[2]}${port}`);
  const scheme = shape[1]!.toLowerCase();
  const prefix = `${scheme}://`;
  if (serialised === undefined || !serialised.startsWith(prefix)) {
    throw invalidCors(`wildcard origin ${JSON.stringify(entry)} has an invalid domain`);
  }
  const suffix = serialised.slice(prefix.length);
  const host = suffix.replace(/:\d+$/, '');
  if (/^[\d.]+$/.test(host) || host.startsWith('[') || host.startsWith('.') || host.includes('..')) {
    throw invalidCors(`wildcard origin ${JSON.stringify(entry)}: "*." must be followed by a domain name`);
  }
  return Object.freeze({ prefix, suffix: `.${suffix}` });
}

function invalidCors(why: string, cause?: unknown): GroundworkError {
  return new GroundworkError('GATEWAY_ERR_INVALID_CORS', {
    detail: `Invalid CORS configuration: ${why}.`,
    cause,
  });
}

/**
 * The serialisation of an origin (HTML "serialization of an origin"): lower-case scheme and host,
 * IDN hosts in punycode, the scheme's default port dropped. `undefined` when `text` is not exactly
 * `scheme://host[:port]`. Browsers already send this form; config entries are normalised with it.
 */
export function serialiseOrigin(text: string): string | undefined {
  if (text.length > MAX_ORIGIN_LENGTH) return undefined;
  const shape = ORIGIN_SHAPE.exec(text);
  if (!shape) return undefined;
  const scheme = shape[1]!.toLowerCase();
  const port = shape[3];
  if (port !== undefined && Number(port) > 65_535) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.origin !== 'null') return url.origin; // http(s)/ws(s)/ftp: the URL parser knows them
  if (scheme === 'file' || scheme === 'blob' || scheme === 'data') return undefined;
  // Other schemes (e.g. chrome-extension://id): an opaque host; compare it case-insensitively.
  const host = shape[2]!.toLowerCase();
  return port === undefined ? `${scheme}://${host}` : `${scheme}://${host}:${Number(port)}`;
}

/**
 * Whether `origin` (the request's `Origin` value) may read responses under this policy.
 * Comparison is by serialised origin: scheme, host (case-insensitive) and port must all agree.
 * `null` (opaque origins: sandboxed frames, `file:`, some redirects) passes only when listed as
 * `'null'`, or under `['*']` where the response is public anyway.
 */
export function isOriginAllowed(cors: CompiledCors, origin: string): boolean {
  if (cors.anyOrigin) return true;
  if (origin === 'null') return cors.allowNull;
  // Fast path: browsers send the serialised form, which is how exact entries are stored.
  if (cors.exactOrigins.has(origin)) return true;
  const serialised = serialiseOrigin(origin);
  if (serialised === undefined) return false;
  if (cors.exactOrigins.has(serialised)) return true;
  for (const w of cors.wildcardOrigins) {
    if (
      serialised.length > w.prefix.length + w.suffix.length &&
      serialised.startsWith(w.prefix) &&
      serialised.endsWith(w.suffix) &&
      SUBDOMAINS.test(serialised.slice(w.prefix.length, serialised.length - w.suffix.length))
    ) {
      return true;
    }
  }
  for (const pattern of cors.originPatterns) {
    if (pattern.test(serialised)) return true;
  }
  return false;
}

/**
 * The CORS answer for one request.
 *
 * - No `Origin`: `kind: 'none'`. The response still carries `Vary: Origin` when the policy echoes
 *   origins, and `Access-Control-Allow-Origin: *` under `['*']`, so an HTTP cache never serves a
 *   non-CORS response to a CORS request (Fetch "CORS protocol and HTTP caches", #cors-protocol-and-http-caches).
 * - Preflight (`OPTIONS` + `Origin` + `Access-Control-Request-Method`, Fetch "HTTP requests", #http-requests): allowed when the
 *   origin, the method and every requested header are allowed; the answer lists methods and headers,
 *   `Access-Control-Max-Age` and credentials. The caller answers it itself (204), never the route.
 * - Any other request with `Origin`: `Access-Control-Allow-Origin` (the request's own origin, or `*`
 *   under `['*']`), `Access-Control-Allow-Credentials`, `Access-Control-Expose-Headers`.
 *
 * Refused requests get no `Access-Control-*` header at all (only `Vary`); the browser then hides the
 * response. A refused actual request must still be served normally — CORS is not access control for
 * non-browser clients.
 *
 * @example
 *   evaluateCors(cors, { method: 'GET', origin: 'https://app.example.com' });
 *   // { kind: 'simple', allowed: true, headers: { 'access-control-allow-origin': 'https://app.example.com',
 *   //   'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'ratelimit, ratelimit-policy',
 *   //   vary: 'Origin' } }
 */
export function evaluateCors(cors: CompiledCors, request: CorsRequest): CorsDecision {
  const origin = request.origin;
  const dynamic = !cors.anyOrigin;
  if (origin === undefined) {
    if (dynamic) return { kind: 'none', allowed: false, headers: { vary: VARY_ORIGIN } };
    return { kind: 'none', allowed: true, headers: actualHeaders(cors, '*') };
  }

  const originAllowed = isOriginAllowed(cors, origin);
  if (request.method === 'OPTIONS' && request.accessControlRequestMethod !== undefined) {
    const vary = dynamic ? `${VARY_ORIGIN}, ${VARY_PREFLIGHT}` : VARY_PREFLIGHT;
    const refused: CorsDecision = { kind: 'preflight', allowed: false, headers: { vary } };
    if (!originAllowed) return refused;
    const method = request.accessControlRequestMethod.trim();
    if (!TOKEN.test(method) || !(cors.anyMethod || cors.methods.has(method))) return refused;
    const requested = parseRequestHeaders(request.accessControlRequestHeaders);
    if (requested === undefined) return refused;
    if (cors.allowedHeaders && !requested.every((h) => cors.allowedHeaders?.has(h))) return refused;

    const headers: Record<string, string> = {
      'access-control-allow-origin': dynamic ? origin : '*',
    };
    if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
    // Fetch "CORS-preflight fetch" (#cors-preflight-fetch): `*` in Allow-Methods/Allow-Headers is a wildcard only for
    // requests without credentials, and `*` never covers `Authorization`. Echoing what was asked
    // is correct in every case, so that is what '*' (allow any) sends.
    headers['access-control-allow-methods'] = cors.anyMethod
      ? cors.credentials
        ? method
        : '*'
      : cors.methodsValue;
    if (cors.allowedHeaders === undefined) {
      if (requested.length > 0) headers['access-control-allow-headers'] = requested.join(', ');
    } else if (cors.allowedHeadersValue !== '') {
      headers['access-control-allow-headers'] = cors.allowedHeadersValue;
    }
    headers['access-control-max-age'] = String(cors.maxAgeS);
    headers.vary = vary;
    return { kind: 'preflight', allowed: true, headers };
  }

  if (!originAllowed) return { kind: 'simple', allowed: false, headers: { vary: VARY_ORIGIN } };
  return { kind: 'simple', allowed: true, headers: actualHeaders(cors, dynamic ? origin : '*') };
}

function actualHeaders(cors: CompiledCors, allowOrigin: string): Record<string, string> {
  const headers: Record<string, string> = { 'access-control-allow-origin': allowOrigin };
  if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
  if (cors.exposedHeadersValue !== '') headers['access-control-expose-headers'] = cors.exposedHeadersValue;
  if (allowOrigin !== '*') headers.vary = VARY_ORIGIN;
  return headers;
}

/** `Access-Control-Request-Headers`: a comma list of lower-cased names; `undefined` if one is not a token. */
function parseRequestHeaders(value: string | undefined): string[] | undefined {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '') continue;
    if (!TOKEN.test(name)) return undefined;
    if (!names.includes(name)) names.push(name);
  }
  return names;
}
