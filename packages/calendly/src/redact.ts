// Secrets must never reach logs or error messages: tokens, client secrets, OAuth codes and
// webhook signing keys all travel through this client. One redaction policy serves all of
// calhook (@calhook/observability); here a `code` is only ever an OAuth code, so it is always
// secret, whatever it looks like.
import { redactText, redactValue } from '@calhook/observability';

/** A deep copy of `value` with secret fields and in-text credentials replaced by '[redacted]'. */
export function redact(value: unknown): unknown {
  return redactValue(value, { alwaysSecret: ['code'] });
}

/**
 * A request path fit for logs: values of secret-named query parameters are replaced, the rest
 * is kept so a failed call can still be told apart from its neighbours.
 */
export function redactPath(path: string): string {
  return redactText(path);
}
