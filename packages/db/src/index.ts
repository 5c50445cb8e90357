export {
  createDatabase,
  type CreateDatabaseOptions,
  type Database,
  type DatabaseHandle,
  type Executor,
  type Tx,
} from './client.ts';
export { ensureDatabase, migrateDatabase, migrationsFolder } from './migrate.ts';
export * from './schema/index.ts';
