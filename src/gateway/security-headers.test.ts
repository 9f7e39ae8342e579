import { describe, expect, it } from 'vitest';
import { defaultSecurityHeaders, securityHeaders } from './security-headers.js';

const HTML_CSP =
  "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

describe('securityHeaders', () => {
  it('JSON API responses: nosniff, referrer policy, DENY framing, the OWASP REST CSP, CORP same-origin', () => {
    expect(
      securityHeaders({ tls: false, hstsMaxAgeS: 0, contentType: 'application/json; charset=utf-8' }),
    ).toEqual({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'strict-origin-when-cross-origin',
      'x-frame-options': 'DENY',
      'cross-origin-resource-policy': 'same-origin',
      'content-security-policy': API_CSP,
    });
  });

  it('HTML documents get the strict document CSP', () => {
    for (const contentType of [
      'text/html',
      'text/html; charset=utf-8',
      'TEXT/HTML ;charset=utf-8',
      'application/xhtml+xml',
    ]) {
      expect(
        securityHeaders({ tls: true, hstsMaxAgeS: 1, contentType })['content-security-policy'],
        contentType,
      ).toBe(HTML_CSP);
    }
  });

  it('types that merely contain "html" are not documents', () => {
    for (const contentType of [
      'text/htmlx',
      'application/json; profile=text/html',
      'image/svg+xml',
      'text/plain',
    ]) {
      expect(
        securityHeaders({ tls: true, hstsMaxAgeS: 1, contentType })['content-security-policy'],
        contentType,
      ).toBe(API_CSP);
    }
  });

  it("frameAncestors 'self': SAMEORIGIN and frame-ancestors 'self' in either CSP", () => {
    const html = securityHeaders({
      tls: true,
      hstsMaxAgeS: 1,
      contentType: 'text/html',
      frameAncestors: 'self',
    });
    expect(html['x-frame-options']).toBe('SAMEORIGIN');
    expect(html['content-security-policy']).toBe(
      HTML_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
    );
    const api = securityHeaders({
      tls: true,
      hstsMaxAgeS: 1,
      contentType: 'application/json',
      frameAncestors: 'self',
    });
    expect(api['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'self'");
  });

  it('no Content-Type (204/304): no CSP, so a 304 cannot overwrite a cached page’s policy; the rest stays', () => {
    for (const contentType of [undefined, '', '  ']) {
      const headers = securityHeaders({ tls: true, hstsMaxAgeS: 1, contentType });
      expect(headers['content-security-policy']).toBeUndefined();
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['x-frame-options']).toBe('DENY');
    }
  });

  it('never sets HSTS (the HTTP server does, on TLS)', () => {
    const headers = securityHeaders({ tls: true, hstsMaxAgeS: 31_536_000, contentType: 'text/html' });
    expect(Object.keys(headers)).not.toContain('strict-transport-security');
  });

  it('Cross-Origin-Resource-Policy can be relaxed for embeddable resources', () => {
    expect(
      securityHeaders({ tls: true, hstsMaxAgeS: 1, crossOriginResourcePolicy: 'cross-origin' })[
        'cross-origin-resource-policy'
      ],
    ).toBe('cross-origin');
    expect(
      securityHeaders({ tls: true, hstsMaxAgeS: 1, crossOriginResourcePolicy: 'same-site' })[
        'cross-origin-resource-policy'
      ],
    ).toBe('same-site');
  });

  it('does not use no-referrer (it would null the Origin of same-origin form POSTs)', () => {
    expect(securityHeaders({ tls: false, hstsMaxAgeS: 0 })['referrer-policy']).not.toBe('no-referrer');
  });

  it('defaultSecurityHeaders: the same headers as securityHeaders, made once per content type', () => {
    for (const contentType of [
      undefined,
      '',
      'application/json; charset=utf-8',
      'text/html',
      'TEXT/HTML; x=1',
    ]) {
      const cached = defaultSecurityHeaders(contentType);
      expect(cached, String(contentType)).toEqual(
        securityHeaders({
          tls: false,
          hstsMaxAgeS: 0,
          ...(contentType === undefined ? {} : { contentType }),
        }),
      );
      expect(defaultSecurityHeaders(contentType)).toBe(cached);
      expect(Object.isFrozen(cached)).toBe(true);
    }
    expect(defaultSecurityHeaders('text/html')).not.toBe(defaultSecurityHeaders('application/json'));
  });
});
