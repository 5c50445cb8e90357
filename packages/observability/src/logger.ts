import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Every place a secret can sit in what calhook logs. Values are replaced, never removed, so a
 * reader still sees that the field was there.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers["calendly-webhook-signature"]',
  'req.headers.cookie',
  'headers.authorization',
  '*.authorization',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  '*.code',
  '*.codeVerifier',
  '*.code_verifier',
  '*.clientSecret',
  '*.client_secret',
  '*.signingKey',
  '*.signing_key',
  '*.encryptionKey',
  '*.password',
  'accessToken',
  'refreshToken',
  'signingKey',
  'clientSecret',
  'password',
];

export interface LoggerOptions {
  level?: string;
  pretty?: boolean;
  name?: string;
  /** Where lines go; tests pass a stream to capture them. Defaults to stdout. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    name: options.name ?? 'calhook',
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(base);
}
