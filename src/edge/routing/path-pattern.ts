/**
 * Path patterns of edge routes, in the syntax Fastify's router uses so that the same string can be
 * registered there: literal segments, `:name` segments (one non-empty segment), and a final `*`
 * segment for any rest, possibly empty (`/files/*` matches `/files/` and `/files/a/b`, not `/files`).
 * Compiled to one anchored regular expression; parameters come back raw (not percent-decoded).
 */

export interface PathPattern {
  readonly source: string;
  readonly paramNames: readonly string[];
  /** The parameters when `path` matches, else undefined. */
  match(path: string): Record<string, string> | undefined;
}

/** @throws Error naming the offending segment when the pattern is not in the supported syntax. */
export function compilePathPattern(source: string): PathPattern {
  if (!source.startsWith('/')) throw new Error(`path pattern ${JSON.stringify(source)} must start with /`);
  const segments = source.slice(1).split('/');
  const names: string[] = [];
  let regex = '^';
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '*') {
      if (!last) throw new Error(`"*" may only be the last segment of ${JSON.stringify(source)}`);
      names.push('*');
      regex += '/(.*)';
      return;
    }
    if (segment.startsWith(':')) {
      const name = segment.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new Error(`bad parameter segment ${JSON.stringify(segment)} in ${JSON.stringify(source)}`);
      }
      if (names.includes(name))
        throw new Error(`parameter :${name} appears twice in ${JSON.stringify(source)}`);
      names.push(name);
      regex += '/([^/]+)';
      return;
    }
    if (/[:*(]/.test(segment)) {
      throw new Error(
        `segment ${JSON.stringify(segment)} of ${JSON.stringify(source)} mixes literal text with ":", "*" or "("`,
      );
    }
    regex += `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
  });
  const compiled = new RegExp(`${regex}$`);
  return {
    source,
    paramNames: names,
    match(path) {
      const found = compiled.exec(path);
      if (found === null) return undefined;
      const params: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) params[names[i]!] = found[i + 1]!;
      return params;
    },
  };
}
