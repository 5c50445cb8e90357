// Entry point of the worker role: parse config once, work the queues, drain on SIGTERM.
import { loadConfigOrExit } from '@calhook/config';
import { createLogger, guardProcess, onShutdown, startTracingOrExit } from '@calhook/observability';
import { startWorker } from './role.ts';

const config = loadConfigOrExit(process.env, ['worker']);
const logger = createLogger({ ...config.log, name: 'calhook-worker' });
guardProcess(logger);
// Before anything queues jobs: off (nothing loaded) unless OTEL_* variables ask for traces.
const tracing = await startTracingOrExit(process.env, {
  serviceName: 'calhook-worker',
  onExportError: (error, suppressed) =>
    logger.warn({ err: error, suppressed }, 'could not export traces'),
});
const worker = await startWorker(config, logger);
logger.info({ prefix: config.queuePrefix }, 'worker running');
onShutdown(logger, async () => {
  await worker.close();
  await tracing.shutdown();
});
