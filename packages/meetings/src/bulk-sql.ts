// Set-based statements for batches. Building a multi-row statement through the query builder
// costs a parameter (and a type check) per cell and a new prepared statement per batch size;
// here a whole batch travels as one JSON parameter that Postgres unpacks with
// json_to_recordset, typed by the schema's own column definitions.
import { type Column, getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';

type ColumnKey<T extends PgTable> = Extract<keyof T['_']['columns'], string>;

function columnsOf<T extends PgTable>(table: T, keys: readonly ColumnKey<T>[]): Column[] {
  const all = getTableColumns(table) as Record<string, Column>;
  return keys.map((key) => {
    const column = all[key];
    if (!column) throw new Error(`no column ${key}`);
    return column;
  });
}

/**
 * `column = any($1)` with the distinct values as one array parameter: one prepared statement
 * for any number of them, and no parameter per value for the query builder to check.
 */
export function anyOf(column: Column, values: readonly unknown[]): SQL {
  return sql`${column} = any(${sql.param([...new Set(values)])})`;
}

/**
 * `(a, b) in (select * from unnest($1::type[], $2::type[]))`: the rows matching any of the
 * pairs. Filtering each column by its own list lets the planner guess that a large part of
 * the table matches (200 connections of 1,000 are a fifth of it) and scan all of it, a cost
 * that grows with the table; a list of pairs is a semi-join it walks through the index on
 * (a, b), one lookup per pair, however large the table grows.
 */
export function pairsIn(a: Column, b: Column, pairs: readonly (readonly [string, string])[]): SQL {
  const seen = new Set<string>();
  const as: string[] = [];
  const bs: string[] = [];
  for (const [x, y] of pairs) {
    const key = `${x}\n${y}`;
    if (seen.has(key)) continue;
    seen.add(key);
    as.push(x);
    bs.push(y);
  }
  const cast = (column: Column) => sql.raw(`${recordType(column)}[]`);
  return sql`(${a}, ${b}) in (select * from unnest(${sql.param(as)}::${cast(a)}, ${sql.param(bs)}::${cast(b)}))`;
}

// A serial column is an integer with a default; as a record's column it is the integer.
const recordType = (column: Column) =>
  column
    .getSQLType()
    .replace(/^bigserial$/, 'bigint')
    .replace(/^serial$/, 'integer');

const quoted = (columns: Column[]) => sql.raw(columns.map((c) => `"${c.name}"`).join(', '));

/**
 * `(col, …)` and `json_to_recordset($1::json) as v(col type, …)` for `rows`, taking the values
 * of `keys` (the schema's property names). Dates travel as ISO strings, JSON as JSON, and a
 * missing or null value is SQL NULL.
 */
export function jsonRecordset<T extends PgTable>(
  table: T,
  keys: readonly ColumnKey<T>[],
  rows: readonly object[],
): { columns: SQL; source: SQL } {
  const columns = columnsOf(table, keys);
  const payload = JSON.stringify(
    rows.map((row) => {
      const values = row as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [i, key] of keys.entries()) out[(columns[i] as Column).name] = values[key] ?? null;
      return out;
    }),
  );
  const definition = sql.raw(columns.map((c) => `"${c.name}" ${recordType(c)}`).join(', '));
  return {
    columns: quoted(columns),
    source: sql`json_to_recordset(${payload}::json) as v(${definition})`,
  };
}

/** `col = excluded.col, …` for an upsert's conflict clause. */
export function setFromExcluded<T extends PgTable>(table: T, keys: readonly ColumnKey<T>[]): SQL {
  return sql.raw(
    columnsOf(table, keys)
      .map((c) => `"${c.name}" = excluded."${c.name}"`)
      .join(', '),
  );
}
