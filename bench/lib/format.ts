/** `12,345` */
export function formatInt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Milliseconds with two decimals: `1.23`. */
export function formatMs(value: number): string {
  return value.toFixed(2);
}

/** A ratio as a multiplier: `0.42×`. */
export function formatRatio(value: number): string {
  return `${value.toFixed(2)}×`;
}

export type Align = 'left' | 'right';

/** A GitHub-flavoured Markdown table. */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const rule = headers.map((_, i) => (align[i] === 'right' ? '---:' : '---'));
  return [headers, rule, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** A fixed-width text table for the console. */
export function textTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (align[i] === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
