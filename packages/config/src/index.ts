export {
  type Config,
  ConfigError,
  envSchema,
  loadConfig,
  loadConfigOrExit,
  type Role,
} from './config.ts';
export { parseDuration } from './duration.ts';
