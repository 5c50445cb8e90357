// Entry point of the receiver role: parse config once, listen, stop cleanly on SIGTERM.
import { loadConfigOrExit } from '@calhook/config';
import { createLogger, guardProcess, onShutdown, startTracingOrExit } from '@calhook/observability';
import { startReceiver } from './role.ts';

const config = loadConfigOrExit(process.env, ['receiver']);
const logger = createLogger({ ...config.log, name: 'calhook-receiver' });
guardProcess(logger);
// Before anything queues jobs: off (nothing loaded) unless OTEL_* variables ask for traces.
const tracing = await startTracingOrExit(process.env, {
  serviceName: 'calhook-receiver',
  onExportError: (error, suppressed) =>
    logger.warn({ err: error, suppressed }, 'could not export traces'),
});
const receiver = await startReceiver(config, logger);
logger.info({ url: receiver.url }, 'receiver listening');
onShutdown(logger, async () => {
  await receiver.close();
  await tracing.shutdown();
});
