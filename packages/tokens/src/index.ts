// Public surface of @calhook/tokens: the token lifecycle of a Calendly connection.
export {
  type ReauthReason,
  ReauthRequiredError,
  TokenRefreshError,
  type TokenRefreshFailureKind,
} from './errors.ts';
export {
  coolDownMs,
  isRefreshDue,
  JITTER_FRACTION,
  nextRefreshAt,
  type RefreshTiming,
} from './refresh-schedule.ts';
export {
  createTokenService,
  type RefreshOutcome,
  type RefreshReason,
  type RefreshResult,
  type StoredTokens,
  type TokenService,
  type TokenServiceDeps,
} from './token-service.ts';
