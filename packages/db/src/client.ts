import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.ts';

export type Database = PostgresJsDatabase<typeof schema>;
/** A database handle or an open transaction: queries take either. */
export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
export type Executor = Database | Tx;

export interface DatabaseHandle {
  db: Database;
  sql: postgres.Sql;
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** Pool size; the worker sizes it to its concurrency. */
  max?: number;
  /** Name shown in pg_stat_activity, so operators can tell roles apart. */
  applicationName?: string;
  /** Called once for every statement sent (benchmarks count a workflow's statements). */
  onStatement?: () => void;
}

export function createDatabase(url: string, options: CreateDatabaseOptions = {}): DatabaseHandle {
  const sql = postgres(url, {
    max: options.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'calhook' },
    ...(options.onStatement ? { debug: () => options.onStatement?.() } : {}),
  });
  const db = drizzle(sql, { schema });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}
