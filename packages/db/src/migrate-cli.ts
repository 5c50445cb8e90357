// `pnpm db:migrate`: the one command that creates and migrates the database.
import { loadConfigOrExit } from '@calhook/config';
import { migrateDatabase } from './migrate.ts';

const config = loadConfigOrExit(process.env, []);
const { created } = await migrateDatabase(config.databaseUrl);
const where = new URL(config.databaseUrl);
console.log(
  `calhook: database ${where.pathname.slice(1)} on ${where.host} ${created ? 'created and ' : ''}migrated`,
);
