const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a human duration such as `15m`, `90s`, `2h`, `1d` or `250ms` into milliseconds.
 * A bare number is taken as seconds. Returns null for anything else.
 */
export function parseDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return null;
  const value = Number(match[1]);
  const unit = units[match[2] ?? 's'];
  if (unit === undefined || !Number.isFinite(value)) return null;
  return Math.round(value * unit);
}
