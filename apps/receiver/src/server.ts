// Entry point of the receiver role: parse config once, listen, stop cleanly on SIGTERM.
import { loadConfigOrExit } from '@calhook/config';
import { createLogger, guardProcess, onShutdown } from '@calhook/observability';
import { startReceiver } from './role.ts';

const config = loadConfigOrExit(process.env, ['receiver']);
const logger = createLogger({ ...config.log, name: 'calhook-receiver' });
guardProcess(logger);
const receiver = await startReceiver(config, logger);
logger.info({ url: receiver.url }, 'receiver listening');
onShutdown(logger, () => receiver.close());
