// `pnpm start`: every role in one process (small setups, development). With --migrate it
// creates and migrates the database first. Each role can also run alone (start:receiver…).
import { fileURLToPath } from 'node:url';
import { startApi } from '@calhook/api-app';
import { loadConfigOrExit } from '@calhook/config';
import { migrateDatabase } from '@calhook/db';
import { createLogger, guardProcess, onShutdown } from '@calhook/observability';
import { startReceiver } from '@calhook/receiver-app';
import { startWorker } from '@calhook/worker-app';
import { ensureDevSecrets } from './dev-env.ts';

const envFile = fileURLToPath(new URL('../../../.env', import.meta.url));
const generated = ensureDevSecrets(envFile, process.env);

const config = loadConfigOrExit(process.env, ['receiver', 'api', 'worker']);
const logger = createLogger({ ...config.log, name: 'calhook' });
guardProcess(logger);
if (generated.length > 0) {
  logger.warn(
    { file: envFile, keys: generated },
    'generated development secrets (set them yourself in production)',
  );
}

if (process.argv.includes('--migrate')) {
  const { created } = await migrateDatabase(config.databaseUrl);
  logger.info({ created }, 'database migrated');
}

const worker = await startWorker(config, logger);
const receiver = await startReceiver(config, logger);
const api = await startApi(config, logger);
logger.info({ receiver: receiver.url, api: api.url }, 'calhook running');

onShutdown(logger, async () => {
  // Stop accepting first, then drain the worker, so nothing accepted is left half-done.
  await Promise.all([receiver.close(), api.close()]);
  await worker.close();
});
