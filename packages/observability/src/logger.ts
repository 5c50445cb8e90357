import { type DestinationStream, type Logger, pino } from 'pino';
import { redactText, redactValue } from './redact.ts';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  pretty?: boolean;
  name?: string;
  /** Where lines go; tests pass a stream to capture them. Defaults to stdout. */
  destination?: DestinationStream;
}

/**
 * A pino logger whose every line is redacted by redact.ts: the logged object by the `log`
 * formatter, the message by the `msg` serializer, and child bindings (`logger.child({ … })`,
 * Fastify's per-request child) as they are bound. Key-name walking reaches any depth, so pino's
 * own path redaction is not used: its wildcard paths (`*.token`) ran a cloning redactor over
 * every value of every line, the most expensive part of writing one, while finding nothing the
 * walk had not already censored.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    name: options.name ?? 'calhook',
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
  if (options.destination) return redactBindings(pino(base, options.destination));
  if (options.pretty) {
    return redactBindings(
      pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } }),
    );
  }
  return redactBindings(pino(base));
}

/**
 * pino applies the `bindings` formatter to the root logger only, so child bindings are walked
 * here instead. Children are created from their parent's prototype chain, so the methods set
 * on the root serve every descendant.
 */
function redactBindings(logger: Logger): Logger {
  const { child, setBindings } = logger;
  const walked = (bindings: Record<string, unknown>) =>
    redactValue(bindings) as Record<string, unknown>;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, walked(bindings), childOptions);
  } as Logger['child'];
  logger.setBindings = function (this: Logger, bindings) {
    setBindings.call(this, walked(bindings));
  };
  return logger;
}
