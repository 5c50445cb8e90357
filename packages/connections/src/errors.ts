import { CalendlyError, isRetryable } from '@calhook/calendly';

/** Calendly refused the code or tokens: answered 422 with Calendly's own error body. */
export class CalendlyRejectedError extends Error {
  override name = 'CalendlyRejectedError';
  readonly detail: unknown;
  constructor(message: string, detail: unknown) {
    super(message);
    this.detail = detail;
  }
}

/** The request cannot be served as asked (e.g. a reconnect without credentials). */
export class ConnectInputError extends Error {
  override name = 'ConnectInputError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** Calendly could not be reached or failed (5xx, 429, network): try again later. */
export class CalendlyUnavailableError extends Error {
  override name = 'CalendlyUnavailableError';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number, options?: ErrorOptions) {
    super(message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Rethrows a Calendly failure that may pass with time (5xx, 429, network) as
 * CalendlyUnavailableError, carrying Calendly's wait; anything else as it is.
 */
export function rethrowUnavailable(error: unknown): never {
  if (error instanceof CalendlyError && isRetryable(error)) {
    throw new CalendlyUnavailableError(
      `Calendly is unavailable: ${error.kind}`,
      error.retryAfterMs,
      {
        cause: error,
      },
    );
  }
  throw error;
}
