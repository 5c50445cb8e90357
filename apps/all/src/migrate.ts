// `pnpm db:migrate`: the one command that creates and migrates the database (an entry point,
// so it is where the environment is read).
import { loadConfigOrExit } from '@calhook/config';
import { migrateDatabase } from '@calhook/db';

const config = loadConfigOrExit(process.env, []);
const { created } = await migrateDatabase(config.databaseUrl);
const where = new URL(config.databaseUrl);
console.log(
  `calhook: database ${where.pathname.slice(1)} on ${where.host} ${created ? 'created and ' : ''}migrated`,
);
