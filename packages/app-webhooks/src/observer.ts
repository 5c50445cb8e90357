import type { AttemptOutcome } from './endpoint-client.ts';

/** Where app webhook delivery reports what it did; `createMetrics()` from @calhook/observability fits. */
export interface AppWebhookObserver {
  /** One attempt, by outcome; `lagSeconds` (change committed → 2xx) on success. */
  delivered(outcome: AttemptOutcome, lagSeconds?: number): void;
  /** An endpoint was disabled after failing for 24 h. */
  endpointDisabled(): void;
  /** How long the oldest change not yet queued for some endpoint has waited. */
  feedLag(seconds: number): void;
}
