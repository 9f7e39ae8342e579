export interface Bar {
  label: string;
  value: number;
  /** Text after the bar; defaults to the value with thousands separators. */
  valueLabel?: string;
  /** Drawn in the accent colour (Groundwork's own bars, as opposed to peers). */
  highlight?: boolean;
}

export interface BarChartOptions {
  title: string;
  /** A smaller line under the title: units, settings, date. */
  subtitle?: string;
  bars: readonly Bar[];
  /** Total width in px (default 720). */
  width?: number;
}

const ROW = 30;
const BAR = 20;
const LABEL_WIDTH = 170;
const VALUE_WIDTH = 110;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

/**
 * A horizontal bar chart as a standalone SVG document: one row per bar, scaled to the largest
 * value, bars starting at zero (a truncated axis would exaggerate the differences).
 */
export function barChartSvg(options: BarChartOptions): string {
  const width = options.width ?? 720;
  const top = options.subtitle ? 58 : 40;
  const height = top + options.bars.length * ROW + 12;
  const plotWidth = width - LABEL_WIDTH - VALUE_WIDTH - 20;
  const max = Math.max(...options.bars.map((bar) => bar.value), 0);
  const rows = options.bars.map((bar, i) => {
    const y = top + i * ROW;
    const barWidth = max > 0 ? Math.max(1, (Math.max(0, bar.value) / max) * plotWidth) : 1;
    const valueLabel = bar.valueLabel ?? Math.round(bar.value).toLocaleString('en-US');
    return [
      `  <text x="${LABEL_WIDTH - 10}" y="${y + BAR / 2}" text-anchor="end" dominant-baseline="middle" font-size="13">${escapeXml(bar.label)}</text>`,
      `  <rect x="${LABEL_WIDTH}" y="${y}" width="${barWidth.toFixed(1)}" height="${BAR}" rx="2" fill="${bar.highlight ? '#d9480f' : '#4c6ef5'}"/>`,
      `  <text x="${(LABEL_WIDTH + barWidth + 8).toFixed(1)}" y="${y + BAR / 2}" dominant-baseline="middle" font-size="12" fill="#333">${escapeXml(valueLabel)}</text>`,
    ].join('\n');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `  <rect width="${width}" height="${height}" fill="#fff"/>`,
    `  <text x="10" y="24" font-size="16" font-weight="600">${escapeXml(options.title)}</text>`,
    ...(options.subtitle
      ? [`  <text x="10" y="44" font-size="12" fill="#555">${escapeXml(options.subtitle)}</text>`]
      : []),
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
