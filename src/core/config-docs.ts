import { z } from 'zod';
import { configSchema, optionSources } from './config.js';

interface JsonSchemaNode {
  type?: string;
  default?: unknown;
  description?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchemaNode>;
}

/** The README's configuration table, generated from the schema (a test keeps README in step). */
export function renderConfigTable(): string {
  const root = z.toJSONSchema(configSchema, { io: 'output', unrepresentable: 'any' }) as JsonSchemaNode;
  const rows: string[] = [
    '| key | environment | flag | default | allowed | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const walk = (node: JsonSchemaNode, prefix: string) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (child.type === 'object' && child.properties) {
        walk(child, path);
        continue;
      }
      const source = optionSources.find((o) => o.path === path);
      rows.push(
        `| \`${path}\` | ${source?.env ? `\`${source.env}\`` : ''} | ${source?.flag ? `\`--${source.flag}\`` : ''} | ${
          child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``
        } | ${allowed(child)} | ${child.description ?? ''} |`,
      );
    }
  };
  walk(root, '');
  return rows.join('\n');
}

function allowed(node: JsonSchemaNode): string {
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(', ');
  if (node.minimum !== undefined || node.maximum !== undefined) {
    return `${node.type ?? 'number'} ${node.minimum ?? ''}–${node.maximum ?? ''}`;
  }
  return node.type ?? 'any';
}
