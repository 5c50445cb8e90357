// Entry point of the worker role: parse config once, work the queues, drain on SIGTERM.
import { loadConfigOrExit } from '@calhook/config';
import { createLogger, guardProcess, onShutdown } from '@calhook/observability';
import { startWorker } from './role.ts';

const config = loadConfigOrExit(process.env, ['worker']);
const logger = createLogger({ ...config.log, name: 'calhook-worker' });
guardProcess(logger);
const worker = await startWorker(config, logger);
logger.info({ prefix: config.queuePrefix }, 'worker running');
onShutdown(logger, () => worker.close());
