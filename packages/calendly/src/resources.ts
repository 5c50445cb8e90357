// Shapes of the Calendly API responses this client returns, other than the invitee and the
// scheduled event (payloads.ts: the same objects webhooks embed). Parsed leniently: real
// responses break the spec's nullability here and there, and unknown fields are kept (loose
// objects), so only what callers rely on is required.
import { z } from 'zod';

const nullableString = z.string().nullish();

export const userResourceSchema = z.looseObject({
  uri: z.string(),
  name: z.string(),
  email: z.string(),
  timezone: nullableString,
  slug: nullableString,
  scheduling_url: nullableString,
  current_organization: z.string(),
  created_at: nullableString,
  updated_at: nullableString,
});
export type UserResource = z.infer<typeof userResourceSchema>;

export const webhookSubscriptionResourceSchema = z.looseObject({
  uri: z.string(),
  callback_url: z.string(),
  created_at: nullableString,
  updated_at: nullableString,
  /** Set once Calendly starts retrying failed deliveries; it disables the hook after 24 h. */
  retry_started_at: nullableString,
  state: z.string(),
  events: z.array(z.string()),
  scope: z.string(),
  organization: z.string(),
  user: nullableString,
  group: nullableString,
  creator: nullableString,
});
export type WebhookSubscriptionResource = z.infer<typeof webhookSubscriptionResourceSchema>;

export function resourceEnvelope<T extends z.ZodType>(resource: T) {
  return z.object({ resource });
}

/**
 * A page of a list endpoint. Items are parsed one by one by the caller, so one item Calendly
 * sends in an unexpected shape is skipped and counted, never the end of the listing.
 */
export function collectionPage() {
  return z.object({
    collection: z.array(z.unknown()),
    pagination: z
      .looseObject({ next_page_token: nullableString, next_page: nullableString })
      .nullish(),
  });
}

/**
 * Calendly's token endpoint answer. Only what calhook uses is required: nothing promises
 * `owner` and `organization` on a refresh, and refusing an answer for their absence would lose
 * a rotated pair Calendly has already issued (the old refresh token is spent), forcing the user
 * to reconnect. Who a token acts for comes from `GET /users/me`.
 */
export const tokenResponseSchema = z.looseObject({
  token_type: z.string().optional(),
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  scope: z.string().optional(),
  /** Unix seconds. */
  created_at: z.number().optional(),
  /** Seconds; 7200 at Calendly. */
  expires_in: z.number().positive(),
  owner: z.string().optional(),
  organization: z.string().optional(),
});
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

/** A token pair as the rest of calhook handles it. */
export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  /** The earlier of Calendly's own expiry and local receipt time + lifetime. */
  expiresAt: Date;
  scope: string;
  /** The user URI the token acts for, when the answer names it (a refresh may not). */
  ownerUri: string | undefined;
  /** The organization URI, when the answer names it (a refresh may not). */
  organizationUri: string | undefined;
  createdAt: Date;
}

/**
 * Converts Calendly's token answer. Expiry is computed from both Calendly's `created_at` and our
 * own receipt time and the earlier one wins, so a skewed clock on either side can only make us
 * refresh early, never use an expired token.
 */
export function toTokenSet(raw: TokenResponse, receivedAt: number): TokenSet {
  const createdAtMs = raw.created_at === undefined ? receivedAt : raw.created_at * 1000;
  const lifetimeMs = raw.expires_in * 1000;
  const expiresAtMs = Math.min(createdAtMs + lifetimeMs, receivedAt + lifetimeMs);
  return {
    accessToken: raw.access_token,
    refreshToken: raw.refresh_token,
    expiresAt: new Date(expiresAtMs),
    scope: raw.scope ?? '',
    ownerUri: raw.owner,
    organizationUri: raw.organization,
    createdAt: new Date(createdAtMs),
  };
}
