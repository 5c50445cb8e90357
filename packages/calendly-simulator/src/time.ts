/** Calendly timestamps carry microseconds: `2024-07-10T15:00:00.000000Z`. */
export function calendlyTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * The next `updated_at` for a resource: the clock, but always later than the previous value,
 * because consumers order changes by these stamps even when a test clock stands still.
 */
export function nextStamp(now: number, previous: number | null): number {
  return previous === null || now > previous ? now : previous + 1;
}
