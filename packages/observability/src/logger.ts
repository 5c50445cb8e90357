import { type DestinationStream, type Logger, pino } from 'pino';
import { redactText, redactValue } from './redact.ts';

export type { Logger };

/**
 * Known places a secret can sit in what calhook logs, censored by pino when the line is
 * written. Values are replaced, never removed, so a reader still sees that the field was there.
 * Everything else logged is also walked by key name (redact.ts), which reaches any depth.
 * `code` is not listed: there it would hide error codes (see redact.ts for how OAuth codes go).
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
  'token',
  'apiToken',
  'encryptionKey',
  '*.apiToken',
  '*.encryptionKeys',
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
    // Runs before the serializers, so errors anywhere in the object are walked as well.
    formatters: {
      log: (object: Record<string, unknown>) => redactValue(object) as Record<string, unknown>,
    },
    serializers: {
      // Already serialised and redacted by the formatter above; a fresh Error can only reach
      // here through a child binding.
      err: (value: unknown) => (value instanceof Error ? redactValue(value) : value),
      msg: (value: unknown) => (typeof value === 'string' ? redactText(value) : value),
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(base);
}
