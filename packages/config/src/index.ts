export {
  type Config,
  ConfigError,
  configSchema,
  loadConfig,
  loadConfigOrExit,
  MAX_QUEUE_SHARDS,
  type Role,
} from './config.ts';
export { parseDuration } from './duration.ts';
