import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'vitest';
import type { ApiResponse } from './data-api.js';

/**
 * The OpenAPI document as a contract for the tests (test/data/openapi.test.ts,
 * test/auth/openapi-auth.test.ts): validity as OpenAPI 3.1 and JSON Schema 2020-12, and real
 * responses checked against the operation that documents them.
 */

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is walked freely
export type Doc = any;

const addFormats = addFormatsModule.default;
const COMPONENTS = 'https://groundwork.test/openapi/components';

/** `#/components/schemas/X` → an absolute reference into the components registered with Ajv. */
function absolute<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', `"${COMPONENTS}#/$defs/`));
}

export function lookup(doc: Doc, pointer: string): Doc {
  return pointer
    .slice(2)
    .split('/')
    .reduce((node: Doc, part) => node?.[part.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
}

/** Ajv 2020 in strict mode over the document's schemas: adding them checks them against the meta-schema. */
export function schemaAjv(doc: Doc): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  ajv.addSchema({ $id: COMPONENTS, $defs: absolute(doc.components.schemas) });
  return ajv;
}

export async function validateDocument(doc: Doc): Promise<{ valid: boolean; errors?: unknown }> {
  return new Validator().validate(structuredClone(doc));
}

/**
 * The document as a contract: each real response must be documented for its path, method and
 * status, carry the required headers (each present documented header must match its schema), and
 * its body must validate against the documented schema for its media type; a problem's code must
 * be one the response lists.
 */
export function contractOf(doc: Doc) {
  const ajv = schemaAjv(doc);
  const compiled = new Map<string, ValidateFunction>();
  const checked = new Set<string>();
  const resolve = (node: Doc) => (node?.$ref ? lookup(doc, node.$ref) : node);
  const validator = (key: string, schema: Doc) => {
    let fn = compiled.get(key);
    if (!fn) {
      fn = ajv.compile(absolute(schema));
      compiled.set(key, fn);
    }
    return fn;
  };
  const operation = (method: string, template: string) => {
    const op = doc.paths[template]?.[method.toLowerCase()];
    expect(op, `${method} ${template} is documented`).toBeDefined();
    return op;
  };
  return {
    checked,
    operation,
    /** Whether a request body is valid by the documented request schema. */
    acceptsBody(method: string, template: string, body: unknown): boolean {
      const schema = resolve(operation(method, template).requestBody).content['application/json'].schema;
      return validator(`request ${method} ${template}`, schema)(body);
    },
    check(method: string, template: string, res: ApiResponse): void {
      const where = `${method} ${template} → ${res.status}`;
      const response = resolve(operation(method, template).responses[String(res.status)]);
      expect(response, `${where} is documented; body: ${JSON.stringify(res.body)}`).toBeDefined();
      for (const [name, node] of Object.entries<Doc>(response.headers ?? {})) {
        const documented = resolve(node);
        const value = res.headers.get(name);
        if (documented.required) expect(value, `${where}: header ${name}`).not.toBeNull();
        if (value === null || !documented.schema) continue;
        const typed = documented.schema.type === 'integer' ? Number(value) : value;
        const validate = validator(`${where} header ${name}`, documented.schema);
        expect(validate(typed), `${where}: header ${name}: ${value}`).toBe(true);
      }
      checked.add(`${method} ${template} ${res.status}`);
      if (!response.content) {
        expect(res.body, `${where} has no body`).toBeUndefined();
        return;
      }
      const media = res.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
      const content = response.content[media];
      expect(content, `${where}: media type ${media} is documented`).toBeDefined();
      const validate = validator(`${where} ${media}`, content.schema);
      expect(
        validate(res.body),
        `${where}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body)}`,
      ).toBe(true);
      if (response['x-groundwork-codes'])
        expect(response['x-groundwork-codes'], where).toContain(res.body.code);
    },
  };
}

/**
 * The server's route (`/api/v1/collections/:name/records`, …) behind a documented concrete path:
 * record and auth paths are per collection in the document, templates on the server.
 */
export function routeOf(path: string): string {
  return path
    .replace(/^\/api\/v1\/collections\/[a-z0-9_]+\/records/, '/api/v1/collections/{name}/records')
    .replace(/^\/api\/v1\/collections\/[a-z0-9_]+\/auth\//, '/api/v1/collections/{collection}/auth/')
    .replace(
      /^\/api\/v1\/admin\/collections\/[a-z0-9_]+\/users\//,
      '/api/v1/admin/collections/{collection}/users/',
    )
    .replaceAll(/\{(\w+)\}/g, ':$1');
}
