import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../core/errors.js';
import {
  type CompiledCors,
  type CorsOptions,
  compileCors,
  evaluateCors,
  isOriginAllowed,
  serialiseOrigin,
} from './cors.js';

const base: CorsOptions = {
  origins: [
    'https://app.example.com',
    'https://*.example.org',
    '/^https:\\/\\/.+\\.test$/',
    'http://localhost:5173',
  ],
  methods: ['GET', 'POST', 'patch'],
  allowedHeaders: ['Content-Type', 'authorization', 'idempotency-key'],
  exposedHeaders: ['RateLimit', 'ratelimit-policy', 'retry-after'],
  credentials: true,
  maxAgeS: 600,
};
const cors = compileCors(base);
const publicCors = compileCors({ ...base, origins: ['*'], credentials: false });

function accessControl(headers: Record<string, string>): string[] {
  return Object.keys(headers).filter((h) => h.startsWith('access-control-'));
}

function configError(options: Partial<CorsOptions>): GroundworkError {
  try {
    compileCors({ ...base, ...options });
  } catch (error) {
    if (error instanceof GroundworkError) return error;
    throw error;
  }
  throw new Error('compileCors accepted an invalid configuration');
}

describe('compileCors', () => {
  it('refuses origins ["*"] with credentials at config time', () => {
    const error = configError({ origins: ['*'], credentials: true });
    expect(error.code).toBe('GATEWAY_ERR_INVALID_CORS');
    expect(error.status).toBe(500);
    expect(error.detail).toContain('credentials');
  });

  it.each([
    [{ origins: ['*', 'https://a.example'], credentials: false }, '"*" must be the only entry'],
    [{ origins: ['https://app.example.com/'] }, '"https://app.example.com/"'],
    [{ origins: ['https://app.example.com/path'] }, 'no path'],
    [{ origins: ['app.example.com'] }, '"app.example.com"'],
    [{ origins: ['https://user@app.example.com'] }, '"https://user@app.example.com"'],
    [{ origins: ['https://app.example.com:99999'] }, '99999'],
    [{ origins: [''] }, '""'],
    [{ origins: ['https://*.*.example.com'] }, 'wildcard origin'],
    [{ origins: ['https://a.*.example.com'] }, 'wildcard origin'],
    [{ origins: ['https://*example.com'] }, 'wildcard origin'],
    [{ origins: ['https://*'] }, 'wildcard origin'],
    [{ origins: ['https://*.10.0.0.1'] }, 'domain name'],
    [{ origins: ['/(unclosed/'] }, 'does not compile'],
    [{ origins: ['/^https:\\/\\/a\\.test$/g'] }, 'flags'],
    [{ origins: ['/^https:\\/\\/a\\.test$/m'] }, 'flags'],
    [{ origins: ['//'] }, '/regex/flags'],
    [{ methods: ['GET POST'] }, 'method'],
    [{ methods: ['*', 'GET'] }, '"*" must be the only entry'],
    [{ allowedHeaders: ['x-ok', 'bad header'] }, 'bad header'],
    [{ allowedHeaders: ['*'] }, 'write "*"'],
    [{ exposedHeaders: ['*'] }, 'credentials'],
    [{ exposedHeaders: ['x:y'] }, 'x:y'],
    [{ maxAgeS: -1 }, 'maxAgeS'],
    [{ maxAgeS: 1.5 }, 'maxAgeS'],
  ] as Array<[Partial<CorsOptions>, string]>)('refuses %j', (options, mention) => {
    const error = configError(options);
    expect(error.code).toBe('GATEWAY_ERR_INVALID_CORS');
    expect(error.detail).toContain(mention);
  });

  it('normalises exact origins (case, default port, IDN) and methods', () => {
    const c = compileCors({
      ...base,
      origins: ['HTTPS://App.Example.COM:443', 'https://bücher.example', 'chrome-extension://ABCDEF'],
    });
    expect([...c.exactOrigins]).toEqual([
      'https://app.example.com',
      'https://xn--bcher-kva.example',
      'chrome-extension://abcdef',
    ]);
    expect([...c.methods]).toEqual(['GET', 'POST', 'PATCH']);
  });
});

describe('serialiseOrigin', () => {
  it.each([
    ['https://app.example.com', 'https://app.example.com'],
    ['https://APP.example.com:443', 'https://app.example.com'],
    ['http://app.example.com:80', 'http://app.example.com'],
    ['http://app.example.com:8080', 'http://app.example.com:8080'],
    ['https://[2001:DB8::1]:8443', 'https://[2001:db8::1]:8443'],
    ['https://app.example.com/', undefined],
    ['https://app.example.com?x', undefined],
    ['https://app.example.com#x', undefined],
    ['https://u:p@app.example.com', undefined],
    ['https://app.example.com:', undefined],
    ['https://app.example.com:65536', undefined],
    ['null', undefined],
    ['file:///etc/passwd', undefined],
    ['https://app example.com', undefined],
    ['', undefined],
  ])('%j → %j', (input, expected) => {
    expect(serialiseOrigin(input)).toBe(expected);
  });
});

describe('origin matching', () => {
  it.each([
    // exact: scheme, host and port must agree; the host compares case-insensitively
    ['https://app.example.com', true],
    ['https://APP.EXAMPLE.COM', true],
    ['https://app.example.com:443', true],
    ['http://app.example.com', false],
    ['https://app.example.com:8443', false],
    ['https://app.example.com.evil.com', false],
    ['https://evilapp.example.com', false],
    ['https://app.example.co', false],
    ['http://localhost:5173', true],
    ['http://localhost', false],
    ['http://localhost:5174', false],
    // wildcard subdomain: any depth, never the apex, same scheme and port
    ['https://a.example.org', true],
    ['https://a.b.c.example.org', true],
    ['https://example.org', false],
    ['https://.example.org', false],
    ['https://a..example.org', false],
    ['https://xexample.org', false],
    ['https://evil-example.org', false],
    ['https://example.org.evil.com', false],
    ['https://a.example.org.evil.com', false],
    ['http://a.example.org', false],
    ['https://a.example.org:8443', false],
    ['https://a.example.org:443', true],
    // regex: anchored on the whole serialised origin
    ['https://preview.test', true],
    ['https://pr-1.preview.test', true],
    ['https://preview.test.evil.com', false],
    ['http://preview.test', false],
    ['https://preview.testx', false],
    // opaque and malformed
    ['null', false],
    ['', false],
    ['https://app.example.com/', false],
    [' https://app.example.com', false],
  ])('%j allowed: %s', (origin, allowed) => {
    expect(isOriginAllowed(cors, origin)).toBe(allowed);
  });

  it('a regex is anchored even when written without ^ and $', () => {
    const c = compileCors({ ...base, origins: ['/https:\\/\\/good\\.test/'] });
    expect(isOriginAllowed(c, 'https://good.test')).toBe(true);
    expect(isOriginAllowed(c, 'https://good.test.evil.com')).toBe(false);
    expect(isOriginAllowed(c, 'https://evil.com?https://good.test')).toBe(false);
    expect(isOriginAllowed(c, 'https://xgood.test')).toBe(false);
  });

  it('a regex can be case-insensitive with /i, and never matches null', () => {
    const c = compileCors({ ...base, origins: ['/.*/', '/^HTTPS:\\/\\/A\\.TEST$/i'] });
    expect(isOriginAllowed(c, 'https://a.test')).toBe(true);
    expect(isOriginAllowed(c, 'null')).toBe(false);
  });

  it('wildcard ports: the port is part of the pattern', () => {
    const c = compileCors({ ...base, origins: ['https://*.example.com:8443'] });
    expect(isOriginAllowed(c, 'https://a.example.com:8443')).toBe(true);
    expect(isOriginAllowed(c, 'https://a.example.com')).toBe(false);
    expect(isOriginAllowed(c, 'https://a.example.com:9443')).toBe(false);
  });

  it('null passes only when listed', () => {
    expect(isOriginAllowed(compileCors({ ...base, origins: ['null'] }), 'null')).toBe(true);
    expect(isOriginAllowed(cors, 'null')).toBe(false);
  });
});

describe('evaluateCors: requests without Origin', () => {
  it('kind none, no Access-Control-* headers, but Vary: Origin (Fetch "CORS protocol and HTTP caches")', () => {
    const decision = evaluateCors(cors, { method: 'GET' });
    expect(decision).toEqual({ kind: 'none', allowed: false, headers: { vary: 'Origin' } });
  });

  it('under ["*"]: always Access-Control-Allow-Origin: *, never Vary', () => {
    const decision = evaluateCors(publicCors, { method: 'GET' });
    expect(decision.kind).toBe('none');
    expect(decision.headers['access-control-allow-origin']).toBe('*');
    expect(decision.headers.vary).toBeUndefined();
  });
});

describe('evaluateCors: actual requests', () => {
  it('allowed origin: echoed, with credentials, exposed headers and Vary: Origin', () => {
    expect(evaluateCors(cors, { method: 'POST', origin: 'https://app.example.com' })).toEqual({
      kind: 'simple',
      allowed: true,
      headers: {
        'access-control-allow-origin': 'https://app.example.com',
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': 'ratelimit, ratelimit-policy, retry-after',
        vary: 'Origin',
      },
    });
  });

  it('the echoed origin is the request value itself, not the normalised form', () => {
    const decision = evaluateCors(cors, { method: 'GET', origin: 'https://A.example.org' });
    expect(decision.headers['access-control-allow-origin']).toBe('https://A.example.org');
  });

  it('disallowed origin: no Access-Control-* headers at all, still Vary: Origin', () => {
    const decision = evaluateCors(cors, { method: 'GET', origin: 'https://evil.com' });
    expect(decision).toEqual({ kind: 'simple', allowed: false, headers: { vary: 'Origin' } });
  });

  it('credentials are never combined with *', () => {
    for (const origin of ['https://app.example.com', 'https://a.example.org', 'https://x.test']) {
      const h = evaluateCors(cors, { method: 'GET', origin }).headers;
      expect(h['access-control-allow-origin']).toBe(origin);
      expect(h['access-control-allow-credentials']).toBe('true');
    }
    const h = evaluateCors(publicCors, { method: 'GET', origin: 'https://anyone.example' }).headers;
    expect(h['access-control-allow-origin']).toBe('*');
    expect(h['access-control-allow-credentials']).toBeUndefined();
    expect(h.vary).toBeUndefined();
  });

  it('no exposed headers: no Access-Control-Expose-Headers', () => {
    const c = compileCors({ ...base, exposedHeaders: [], credentials: false });
    expect(evaluateCors(c, { method: 'GET', origin: 'https://app.example.com' }).headers).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      vary: 'Origin',
    });
  });

  it('OPTIONS without Access-Control-Request-Method is an actual request', () => {
    const decision = evaluateCors(cors, { method: 'OPTIONS', origin: 'https://app.example.com' });
    expect(decision.kind).toBe('simple');
    expect(decision.allowed).toBe(true);
  });
});

describe('evaluateCors: preflight', () => {
  const preflight = {
    method: 'OPTIONS',
    origin: 'https://app.example.com',
    accessControlRequestMethod: 'PATCH',
    accessControlRequestHeaders: 'content-type,authorization',
  };
  const preflightVary = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

  it('allowed: origin, methods, headers, max-age, credentials and Vary', () => {
    expect(evaluateCors(cors, preflight)).toEqual({
      kind: 'preflight',
      allowed: true,
      headers: {
        'access-control-allow-origin': 'https://app.example.com',
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET, POST, PATCH',
        'access-control-allow-headers': 'content-type, authorization, idempotency-key',
        'access-control-max-age': '600',
        vary: preflightVary,
      },
    });
  });

  it('requested header names compare case-insensitively; empty list elements are ignored', () => {
    const decision = evaluateCors(cors, {
      ...preflight,
      accessControlRequestHeaders: ' Content-Type ,, AUTHORIZATION',
    });
    expect(decision.allowed).toBe(true);
  });

  it.each([
    ['disallowed origin', { origin: 'https://evil.com' }],
    ['disallowed method', { accessControlRequestMethod: 'DELETE' }],
    [
      'method compared case-sensitively (Fetch normalises only DELETE/GET/HEAD/OPTIONS/POST/PUT)',
      { accessControlRequestMethod: 'patch' },
    ],
    ['empty method', { accessControlRequestMethod: '' }],
    ['disallowed header', { accessControlRequestHeaders: 'content-type, x-secret' }],
    ['malformed header list', { accessControlRequestHeaders: 'content-type, x y' }],
    ['null origin', { origin: 'null' }],
  ])('refused (%s): allowed false, no Access-Control-* headers, Vary kept', (_why, change) => {
    const decision = evaluateCors(cors, { ...preflight, ...change });
    expect(decision.kind).toBe('preflight');
    expect(decision.allowed).toBe(false);
    expect(accessControl(decision.headers)).toEqual([]);
    expect(decision.headers.vary).toBe(preflightVary);
  });

  it('max-age 0 is sent as 0 (no preflight caching)', () => {
    const c = compileCors({ ...base, maxAgeS: 0 });
    expect(evaluateCors(c, preflight).headers['access-control-max-age']).toBe('0');
  });

  it('allowedHeaders "*" echoes the requested headers, so Authorization is covered with credentials', () => {
    const c = compileCors({ ...base, allowedHeaders: '*' });
    const decision = evaluateCors(c, {
      ...preflight,
      accessControlRequestHeaders: 'authorization,x-anything',
    });
    expect(decision.allowed).toBe(true);
    expect(decision.headers['access-control-allow-headers']).toBe('authorization, x-anything');
    const none = evaluateCors(c, { ...preflight, accessControlRequestHeaders: undefined });
    expect(none.headers['access-control-allow-headers']).toBeUndefined();
  });

  it('methods ["*"]: literal * only without credentials, else the requested method is echoed', () => {
    const withCredentials = compileCors({ ...base, methods: ['*'] });
    expect(
      evaluateCors(withCredentials, { ...preflight, accessControlRequestMethod: 'PURGE' }).headers[
        'access-control-allow-methods'
      ],
    ).toBe('PURGE');
    const without = compileCors({ ...base, methods: ['*'], credentials: false });
    expect(
      evaluateCors(without, { ...preflight, accessControlRequestMethod: 'PURGE' }).headers[
        'access-control-allow-methods'
      ],
    ).toBe('*');
  });

  it('under ["*"]: Allow-Origin *, no credentials, Vary only on the request-method/headers', () => {
    const decision = evaluateCors(publicCors, { ...preflight, origin: 'https://anyone.example' });
    expect(decision.allowed).toBe(true);
    expect(decision.headers['access-control-allow-origin']).toBe('*');
    expect(decision.headers['access-control-allow-credentials']).toBeUndefined();
    expect(decision.headers.vary).toBe('Access-Control-Request-Method, Access-Control-Request-Headers');
  });
});

describe('evaluateCors properties', () => {
  const origin = fc.oneof(
    fc.string(),
    fc.webUrl().map((u) => new URL(u).origin),
    fc.constantFrom(
      'null',
      'https://app.example.com',
      'https://a.example.org',
      'https://x.test',
      'HTTPS://X.TEST',
    ),
    fc
      .tuple(fc.domain(), fc.constantFrom('.example.org', '.test', '.example.com', ''))
      .map(([d, s]) => `https://${d}${s}`),
  );
  const policies: CompiledCors[] = [
    cors,
    publicCors,
    compileCors({ ...base, credentials: false, allowedHeaders: '*', methods: ['*'] }),
  ];
  const request = fc.record({
    method: fc.constantFrom('GET', 'POST', 'OPTIONS', 'PUT'),
    origin: fc.option(origin, { nil: undefined }),
    accessControlRequestMethod: fc.option(fc.oneof(fc.constantFrom('GET', 'PATCH', 'DELETE'), fc.string()), {
      nil: undefined,
    }),
    accessControlRequestHeaders: fc.option(
      fc.oneof(fc.constantFrom('content-type', 'authorization'), fc.string()),
      {
        nil: undefined,
      },
    ),
  });

  it('never throws; Allow-Origin is the request origin or * (only for ["*"]); refusals carry no Access-Control-*', () => {
    fc.assert(
      fc.property(fc.constantFrom(...policies), request, (policy, req) => {
        const decision = evaluateCors(policy, req);
        const acao = decision.headers['access-control-allow-origin'];
        if (!decision.allowed) {
          expect(accessControl(decision.headers)).toEqual([]);
          return;
        }
        if (acao === '*') {
          expect(policy.anyOrigin).toBe(true);
          expect(decision.headers['access-control-allow-credentials']).toBeUndefined();
        } else {
          expect(acao).toBe(req.origin);
          expect(decision.headers.vary).toMatch(/^Origin\b/);
        }
        if (policy.credentials) expect(acao).not.toBe('*');
      }),
      { numRuns: 1000 },
    );
  });
});
