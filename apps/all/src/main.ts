// `pnpm start`: every role in one process (small setups, development). With --migrate it
// creates and migrates the database first. Each role can also run alone (start:receiver…).
// Outside production, a Postgres or Redis on this machine that does not answer is started in
// Docker (dev-services.ts).
import { fileURLToPath } from 'node:url';
import { startApi } from '@calhook/api-app';
import { loadConfigOrExit } from '@calhook/config';
import { migrateDatabase } from '@calhook/db';
import { createLogger, guardProcess, onShutdown, startTracingOrExit } from '@calhook/observability';
import { startReceiver } from '@calhook/receiver-app';
import { startWorker } from '@calhook/worker-app';
import { ensureDevSecrets } from './dev-env.ts';
import { startDevServices } from './dev-start.ts';

const envFile = fileURLToPath(new URL('../../../.env', import.meta.url));
const generated = ensureDevSecrets(envFile, process.env);

const configured = loadConfigOrExit(process.env, ['receiver', 'api', 'worker']);
const logger = createLogger({ ...configured.log, name: 'calhook' });
guardProcess(logger);
if (generated.length > 0) {
  logger.warn(
    { file: envFile, keys: generated },
    'generated development secrets (set them yourself in production)',
  );
}

// What was started is stopped in reverse order: the roles (receiver and api stop accepting,
// then the worker drains), then any containers, so nothing accepted is left half-done.
const stops: (() => Promise<void>)[] = [];
onShutdown(logger, async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

// Before anything queues jobs: off (nothing loaded) unless OTEL_* variables ask for traces.
// Stopped last, so the spans of the shutdown itself are sent.
const tracing = await startTracingOrExit(process.env, {
  serviceName: 'calhook',
  onExportError: (error, suppressed) =>
    logger.warn({ err: error, suppressed }, 'could not export traces'),
});
stops.push(() => tracing.shutdown());

const services = await startDevServices(configured, process.env, logger);
stops.push(services.stop);
const config = { ...configured, databaseUrl: services.databaseUrl, redis: services.redis };

if (process.argv.includes('--migrate')) {
  const { created } = await migrateDatabase(config.databaseUrl);
  logger.info({ created }, 'database migrated');
}

const worker = await startWorker(config, logger);
stops.push(() => worker.close());
const receiver = await startReceiver(config, logger);
const api = await startApi(config, logger);
stops.push(() => Promise.all([receiver.close(), api.close()]).then(() => {}));

const urls = {
  receiver: receiver.url,
  api: api.url,
  docs: `${api.url}/docs`,
  bullBoard: config.admin ? `${api.url}/admin/queues` : null,
  worker: worker.url,
};
logger.info(
  urls,
  `calhook running: receiver ${urls.receiver}, api ${urls.api}, API docs ${urls.docs}, ` +
    (urls.bullBoard
      ? `Bull Board ${urls.bullBoard} (login: ADMIN_USER / ADMIN_PASSWORD)`
      : 'Bull Board off (set ADMIN_USER and ADMIN_PASSWORD)'),
);
