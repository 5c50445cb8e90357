// Where each connection sits within a periodic cycle (reconcile, routine backfill): a stable
// position from a hash of its id, so runs are spread evenly over the cycle and stay where they
// were across restarts and versions. One recipe, in two languages: Postgres selects a slice of
// the cycle by it (an expression index holds it), and the worker computes it for one row.
import { createHash } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';

/** Positions run over [0, SPREAD_POSITIONS): the first 48 bits of md5(id). */
export const SPREAD_POSITIONS = 2 ** 48;

/** The position of a connection id (the same number as `spreadPositionSql`). */
export function spreadPosition(id: string): number {
  return createHash('md5').update(id).digest().readUIntBE(0, 6);
}

/** The same position in SQL, over a uuid column; the `connections_spread_idx` expression. */
export function spreadPositionSql(column: unknown): SQL {
  return sql`(('x' || substr(md5(${column}::text), 1, 12))::bit(48)::bigint)`;
}

/** Where in a cycle of `everyMs` the id's runs fall, in ms from the cycle's start. */
export function spreadOffsetMs(id: string, everyMs: number): number {
  return Math.floor((spreadPosition(id) / SPREAD_POSITIONS) * everyMs);
}

/**
 * The most recent moment, at or before `at`, at which the id's cycle of `everyMs` came round
 * (cycles counted from the epoch).
 */
export function lastSlotOf(id: string, everyMs: number, at: Date): Date {
  const offset = spreadOffsetMs(id, everyMs);
  const t = at.getTime();
  const since = (((t - offset) % everyMs) + everyMs) % everyMs;
  return new Date(t - since);
}

/**
 * The position ranges ([from, to) each) of the ids whose cycle of `everyMs` comes round in the
 * time window [fromMs, toMs): one range, or two when the window wraps the cycle's end. A window
 * of a whole cycle or more is every position.
 */
export function spreadRanges(
  fromMs: number,
  toMs: number,
  everyMs: number,
): { from: number; to: number }[] {
  if (toMs <= fromMs) return [];
  if (toMs - fromMs >= everyMs) return [{ from: 0, to: SPREAD_POSITIONS }];
  const at = (ms: number) => Math.floor((ms / everyMs) * SPREAD_POSITIONS);
  const start = ((fromMs % everyMs) + everyMs) % everyMs;
  const end = start + (toMs - fromMs);
  if (end <= everyMs) return [{ from: at(start), to: at(end) }];
  return [
    { from: at(start), to: SPREAD_POSITIONS },
    { from: 0, to: at(end - everyMs) },
  ];
}
