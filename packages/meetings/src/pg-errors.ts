// How calhook reads a failed Postgres statement: its SQLSTATE, and whether a batch that failed
// with it is worth retrying one item at a time.

/** The SQLSTATE of a failed query, found on the error or its causes. */
export function pgErrorCode(error: unknown): string | undefined {
  for (let e = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Whether a failed batch is worth retrying one item at a time: Postgres refused some
 * data (class 22), a constraint (23), a lost race (40), a statement it could not run (42) or
 * a limit (54). Anything else (no SQLSTATE: the connection was lost or never made; or the
 * server is shutting down) would fail each item in turn the same way, possibly after a
 * connect timeout each, so the whole batch fails at once and is retried later.
 */
export function isolatable(error: unknown): boolean {
  const code = pgErrorCode(error);
  return (
    code !== undefined &&
    /^[0-9A-Z]{5}$/.test(code) &&
    ['22', '23', '40', '42', '54'].includes(code.slice(0, 2))
  );
}

/**
 * Postgres refusing the data itself, for good: a value it cannot hold (class 22), a constraint
 * (23), or a limit such as an index key over its size (54). Its code and message (Postgres's
 * own words: they name the problem, not the data); null for any other failure.
 */
export function refusedData(error: unknown): { code: string; message: string } | null {
  for (let e = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code !== 'string') continue;
    if (!/^(22|23|54)[0-9A-Z]{3}$/.test(code)) return null;
    return { code, message: typeof message === 'string' ? message : '' };
  }
  return null;
}
