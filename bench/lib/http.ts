/** The HTTP calls benchmarks make to set up and check their targets (not the measured load). */

export interface HttpAnswer {
  status: number;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  setCookie: string | null;
}

/** One request with a JSON body (when given); 30 s at most. */
export async function call(
  base: string,
  method: string,
  pathAndQuery: string,
  headers: Readonly<Record<string, string>>,
  body?: unknown,
): Promise<HttpAnswer> {
  const response = await fetch(base + pathAndQuery, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, setCookie: response.headers.get('set-cookie') };
}

/** Throws, with the start of the body, unless the answer has `status`. */
export function expectAnswer(what: string, answer: HttpAnswer, status: number): void {
  if (answer.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${answer.status}: ${answer.text.slice(0, 400)}`);
  }
}
