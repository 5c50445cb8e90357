export { createLogger, type Logger, type LoggerOptions, redactPaths } from './logger.ts';
export { logRequests, serverOptions } from './request-log.ts';
export { onShutdown } from './shutdown.ts';
