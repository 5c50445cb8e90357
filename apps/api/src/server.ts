// Entry point of the api role: parse config once, listen, stop cleanly on SIGTERM.
import { loadConfigOrExit } from '@calhook/config';
import { createLogger, guardProcess, onShutdown } from '@calhook/observability';
import { startApi } from './role.ts';

const config = loadConfigOrExit(process.env, ['api']);
const logger = createLogger({ ...config.log, name: 'calhook-api' });
guardProcess(logger);
const api = await startApi(config, logger);
logger.info({ url: api.url }, 'api listening');
onShutdown(logger, () => api.close());
