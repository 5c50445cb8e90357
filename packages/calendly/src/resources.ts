// Shapes of the Calendly API responses this client returns. Parsed leniently: real responses
// break the spec's nullability here and there, and unknown fields are kept (loose objects), so
// only what callers rely on is required.
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

export const scheduledEventResourceSchema = z.looseObject({
  uri: z.string(),
  name: nullableString,
  status: z.string(),
  start_time: z.string(),
  end_time: z.string(),
  event_type: nullableString,
  location: z.unknown().optional(),
  invitees_counter: z
    .looseObject({ total: z.number(), active: z.number(), limit: z.number() })
    .nullish(),
  event_memberships: z.array(z.looseObject({ user: nullableString })).nullish(),
  cancellation: z.unknown().optional(),
  created_at: nullableString,
  updated_at: nullableString,
});
export type ScheduledEventResource = z.infer<typeof scheduledEventResourceSchema>;

export const inviteeResourceSchema = z.looseObject({
  uri: z.string(),
  event: z.string(),
  email: z.string(),
  name: nullableString,
  first_name: nullableString,
  last_name: nullableString,
  status: z.string(),
  timezone: nullableString,
  rescheduled: z.boolean().nullish(),
  old_invitee: nullableString,
  new_invitee: nullableString,
  cancel_url: nullableString,
  reschedule_url: nullableString,
  cancellation: z.unknown().optional(),
  no_show: z.unknown().optional(),
  questions_and_answers: z.array(z.unknown()).nullish(),
  tracking: z.unknown().optional(),
  created_at: nullableString,
  updated_at: nullableString,
});
export type InviteeResource = z.infer<typeof inviteeResourceSchema>;

export function resourceEnvelope<T extends z.ZodType>(resource: T) {
  return z.object({ resource });
}

export function collectionPage<T extends z.ZodType>(item: T) {
  return z.object({
    collection: z.array(item),
    pagination: z
      .looseObject({ next_page_token: nullableString, next_page: nullableString })
      .nullish(),
  });
}

/** Calendly's token endpoint answer. */
export const tokenResponseSchema = z.looseObject({
  token_type: z.string().optional(),
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  scope: z.string().optional(),
  /** Unix seconds. */
  created_at: z.number().optional(),
  /** Seconds; 7200 at Calendly. */
  expires_in: z.number().positive(),
  owner: z.string(),
  organization: z.string(),
});
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

/** A token pair as the rest of calhook handles it. */
export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  /** The earlier of Calendly's own expiry and local receipt time + lifetime. */
  expiresAt: Date;
  scope: string;
  /** The user URI the token acts for. */
  ownerUri: string;
  organizationUri: string;
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
