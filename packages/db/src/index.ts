export {
  type CreateDatabaseOptions,
  createDatabase,
  type Database,
  type DatabaseHandle,
  type Executor,
  type Tx,
} from './client.ts';
export { ensureDatabase, migrateDatabase, migrationsFolder } from './migrate.ts';
export * from './schema/index.ts';
