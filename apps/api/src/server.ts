// Entry point of the api role: parse config once, listen, stop cleanly on SIGTERM.
import { loadConfigOrExit } from '@calhook/config';
import { createLogger, guardProcess, onShutdown, startTracingOrExit } from '@calhook/observability';
import { startApi } from './role.ts';

const config = loadConfigOrExit(process.env, ['api']);
const logger = createLogger({ ...config.log, name: 'calhook-api' });
guardProcess(logger);
// Before anything queues jobs: off (nothing loaded) unless OTEL_* variables ask for traces.
const tracing = await startTracingOrExit(process.env, {
  serviceName: 'calhook-api',
  onExportError: (error, suppressed) =>
    logger.warn({ err: error, suppressed }, 'could not export traces'),
});
const api = await startApi(config, logger);
logger.info({ url: api.url }, 'api listening');
onShutdown(logger, async () => {
  await api.close();
  await tracing.shutdown();
});
