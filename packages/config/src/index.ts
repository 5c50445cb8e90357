export {
  type Config,
  ConfigError,
  configSchema,
  loadConfig,
  loadConfigOrExit,
  type Role,
} from './config.ts';
export { parseDuration } from './duration.ts';
