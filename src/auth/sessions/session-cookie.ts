/**
 * The session cookie: `__Host-gw_session` on TLS (the `__Host-` prefix makes browsers insist on
 * Secure, Path=/ and no Domain, so a sibling subdomain cannot plant or overwrite it), `gw_session`
 * on plain HTTP (local development). Always HttpOnly and SameSite=Lax (RFC 6265bis).
 */
export const SECURE_COOKIE_NAME = '__Host-gw_session';
export const PLAIN_COOKIE_NAME = 'gw_session';

/** Longest Cookie header looked at; longer ones are ignored (the request is then cookie-less). */
const MAX_COOKIE_HEADER = 8192;

export function sessionCookieName(secure: boolean): string {
  return secure ? SECURE_COOKIE_NAME : PLAIN_COOKIE_NAME;
}

export function setSessionCookie(secret: string, options: { secure: boolean; maxAgeS: number }): string {
  const attributes = [
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeS))}`,
  ];
  if (options.secure) attributes.push('Secure');
  return [`${sessionCookieName(options.secure)}=${secret}`, ...attributes].join('; ');
}

export function clearSessionCookie(secure: boolean): string {
  return setSessionCookie('', { secure, maxAgeS: 0 });
}

/**
 * The value of cookie `name` in a Cookie header (RFC 6265 §5.4 syntax: `a=b; c=d`), or undefined.
 * The first occurrence wins. Never throws, whatever the header holds.
 */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text.length > MAX_COOKIE_HEADER) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

/**
 * The session secret a request carries. On TLS only the `__Host-` cookie counts, so a cookie
 * planted over plain HTTP (or by a subdomain) is never taken for a session.
 */
export function readSessionCookie(
  header: string | string[] | undefined,
  secure: boolean,
): string | undefined {
  return readCookie(header, sessionCookieName(secure));
}
