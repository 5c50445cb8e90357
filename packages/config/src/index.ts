export { type Config, ConfigError, envSchema, loadConfig, type Role } from './config.ts';
export { parseDuration } from './duration.ts';
