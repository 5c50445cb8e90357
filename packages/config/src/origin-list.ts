import { z } from 'zod';

/**
 * A comma-separated list of web origins (`https://app.example.com`), normalised to
 * `URL.origin`; unset stays undefined. Anything with a path, query or credentials is refused:
 * an origin list that silently matched more (or less) than written would be worse than none.
 */
export const originList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    const origins: string[] = [];
    for (const part of value.split(',').map((s) => s.trim())) {
      if (part === '') continue;
      const url = URL.parse(part);
      const bare = url && url.pathname === '/' && !url.search && !url.hash && !url.username;
      if (!url || !bare || !/^https?:$/.test(url.protocol)) {
        ctx.addIssue({ code: 'custom', message: 'must be origins like https://app.example.com' });
        return z.NEVER;
      }
      origins.push(url.origin);
    }
    if (origins.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must list at least one origin' });
      return z.NEVER;
    }
    return origins;
  });
