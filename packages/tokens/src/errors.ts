// The two ways getting a token can fail. Callers branch on the class (and `reason`/`kind`),
// never on the message; messages never carry a token.

export type ReauthReason =
  /** Calendly rejected the refresh token (revoked, spent, unknown). */
  | 'invalid_grant'
  /** A refresh was sent, its answer was lost, and Calendly then rejected the refresh token. */
  | 'refresh_outcome_lost'
  /** The connection was already marked reauth_required. */
  | 'reauth_required'
  | 'disconnected'
  /** The row holds no access token. */
  | 'no_token'
  | 'not_found';

/** Permanent: no retry helps, the user must connect Calendly again. */
export class ReauthRequiredError extends Error {
  override name = 'ReauthRequiredError';
  readonly connectionId: string;
  readonly reason: ReauthReason;

  constructor(connectionId: string, reason: ReauthReason, detail?: string) {
    super(
      `connection ${connectionId} needs to be reconnected (${reason})${detail ? `: ${detail}` : ''}`,
    );
    this.connectionId = connectionId;
    this.reason = reason;
  }
}

export type TokenRefreshFailureKind =
  | 'rate_limited'
  | 'server'
  | 'network'
  /** Sent, answer lost, and the deliberate retry gave no answer either. */
  | 'outcome_unknown'
  /** A recent refresh failed; callers wait out the back-off instead of hammering Calendly. */
  | 'cooling_down'
  /** Another refusal (e.g. the app's own client credentials): retried, visible in last_error. */
  | 'other';

/** Transient: the refresh may work later; the connection stays active. */
export class TokenRefreshError extends Error {
  override name = 'TokenRefreshError';
  readonly connectionId: string;
  readonly kind: TokenRefreshFailureKind;
  /** How long to wait before trying again, when known (429, cool-down). */
  readonly retryAfterMs: number | undefined;

  constructor(
    connectionId: string,
    kind: TokenRefreshFailureKind,
    detail: string,
    options: { retryAfterMs?: number | undefined; cause?: unknown } = {},
  ) {
    super(
      `refreshing the token of connection ${connectionId} failed (${kind}): ${detail}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.connectionId = connectionId;
    this.kind = kind;
    this.retryAfterMs = options.retryAfterMs;
  }
}
