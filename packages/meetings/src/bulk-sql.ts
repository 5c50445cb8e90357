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
