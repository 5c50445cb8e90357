// Public surface of @calhook/calendly: the Calendly API v2 and OAuth client.
export {
  type AuthorizeUrlInput,
  type CalendlyClient,
  type CalendlyClientOptions,
  type CreateWebhookSubscriptionInput,
  createCalendlyClient,
  type ExchangeCodeInput,
  type ListEventInviteesInput,
  type Listed,
  type ListScheduledEventsInput,
  type ListWebhookSubscriptionsInput,
  type WebhookScope,
} from './client.ts';
export {
  CalendlyError,
  type CalendlyErrorKind,
  DEFAULT_RATE_LIMIT_WAIT_MS,
  hasKind,
  isCalendlyError,
  isRetryable,
  type NetworkPhase,
  retryAfterMsFrom,
  type ValidationDetail,
} from './errors.ts';
export * from './payloads.ts';
export { createPkcePair, type PkcePair, pkceChallenge } from './pkce.ts';
export { redact, redactPath } from './redact.ts';
export { resourcePath } from './resource-path.ts';
export {
  type TokenResponse,
  type TokenSet,
  tokenResponseSchema,
  toTokenSet,
  type UserResource,
  userResourceSchema,
  type WebhookSubscriptionResource,
  webhookSubscriptionResourceSchema,
} from './resources.ts';
export {
  backoffDelayMs,
  decideRetry,
  isIdempotentMethod,
  type RetryDecision,
  type RetryPolicy,
} from './retry-policy.ts';
export { cleanJson, cleanText, parseCleanJson } from './text.ts';
export { type CalendlyLogger, MAX_RESPONSE_BYTES } from './transport.ts';
