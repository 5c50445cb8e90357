import type { RateLimiter } from './rate-limiter.ts';

/** Every OAuth scope the simulator knows; users are granted all of them unless told otherwise. */
export const ALL_SCOPES = [
  'users:read',
  'organizations:read',
  'event_types:read',
  'scheduled_events:read',
  'webhooks:read',
  'webhooks:write',
] as const;

export const WEBHOOK_EVENTS = [
  'invitee.created',
  'invitee.canceled',
  'invitee_no_show.created',
  'invitee_no_show.deleted',
  'routing_form_submission.created',
  'event_type.created',
  'event_type.updated',
  'event_type.deleted',
  'meeting_recap.created',
  'contact.created',
  'contact.updated',
  'contact.deleted',
] as const;

export type Plan = 'paid' | 'free';

export interface Organization {
  uri: string;
  createdAtMs: number;
}

export interface User {
  uri: string;
  name: string;
  email: string;
  slug: string;
  plan: Plan;
  role: 'owner' | 'user';
  organizationUri: string;
  scopes: string[];
  timezone: string;
  createdAtMs: number;
  updatedAtMs: number;
}

/** One issued pair (or a personal access token), like a Doorkeeper access-token row. */
export interface TokenGrant {
  kind: 'oauth' | 'personal';
  accessToken: string;
  refreshToken: string | null;
  userUri: string;
  clientId: string | null;
  scopes: string[];
  createdAtMs: number;
  expiresAtMs: number | null;
  revoked: boolean;
  refreshUsed: boolean;
}

export interface AuthorizationCode {
  code: string;
  clientId: string;
  redirectUri: string;
  userUri: string;
  codeChallenge: string | null;
  expiresAtMs: number;
  used: boolean;
}

export interface Subscription {
  uri: string;
  callbackUrl: string;
  events: string[];
  scope: 'user' | 'organization' | 'group';
  organizationUri: string;
  userUri: string | null;
  groupUri: string | null;
  creatorUri: string;
  signingKey: string | null;
  state: 'active' | 'disabled';
  retryStartedAtMs: number | null;
  /** Made through the control API to stand for another app's subscription on the same user. */
  foreign: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface Cancellation {
  canceledBy: string;
  reason: string | null;
  cancelerType: 'host' | 'invitee';
  createdAtMs: number;
}

export interface ScheduledEvent {
  uri: string;
  name: string;
  status: 'active' | 'canceled';
  startMs: number;
  endMs: number;
  eventTypeUri: string;
  hostUri: string;
  organizationUri: string;
  joinUrl: string;
  inviteeLimit: number;
  inviteeUris: string[];
  cancellation: Cancellation | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface QuestionAndAnswer {
  question: string;
  answer: string;
  position: number;
}

export interface Invitee {
  uri: string;
  eventUri: string;
  email: string;
  name: string;
  status: 'active' | 'canceled';
  timezone: string;
  questionsAndAnswers: QuestionAndAnswer[];
  rescheduled: boolean;
  oldInviteeUri: string | null;
  newInviteeUri: string | null;
  cancellation: Cancellation | null;
  noShow: { uri: string; createdAtMs: number } | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface Faults {
  duplicate: boolean;
  reorder: boolean;
  delayMs: number;
  drop: boolean;
  apiErrorRate: number;
  tokenEndpointDown: boolean;
}

export const NO_FAULTS: Faults = {
  duplicate: false,
  reorder: false,
  delayMs: 0,
  drop: false,
  apiErrorRate: 0,
  tokenEndpointDown: false,
};

export interface TokenRequestRecord {
  at: string;
  grantType: string | null;
  userUri: string | null;
  status: number;
  /** 'ok' or the OAuth error code answered. */
  outcome: string;
}

export interface RequestCount {
  total: number;
  rateLimited: number;
}

/**
 * Resources by URI, also filed under their organization. Calendly's listings are per
 * organization (and user); scanning every resource of every organization per call made the
 * simulator's cost per call grow with the number of users it holds, so a bench with 10,000
 * users measured the simulator as much as the code under test.
 */
export class ByOrganization<T extends { organizationUri: string }> extends Map<string, T> {
  readonly #byOrganization = new Map<string, Map<string, T>>();

  override set(key: string, value: T): this {
    if (this.get(key)?.organizationUri !== value.organizationUri) this.#unfile(key);
    super.set(key, value);
    let filed = this.#byOrganization.get(value.organizationUri);
    if (!filed) {
      filed = new Map();
      this.#byOrganization.set(value.organizationUri, filed);
    }
    filed.set(key, value);
    return this;
  }

  override delete(key: string): boolean {
    this.#unfile(key);
    return super.delete(key);
  }

  override clear(): void {
    this.#byOrganization.clear();
    super.clear();
  }

  /** The organization's resources, in the order they were first set. */
  inOrganization(organizationUri: string): IterableIterator<T> {
    return (this.#byOrganization.get(organizationUri) ?? new Map<string, T>()).values();
  }

  #unfile(key: string) {
    const previous = this.get(key);
    if (!previous) return;
    const filed = this.#byOrganization.get(previous.organizationUri);
    filed?.delete(key);
    if (filed?.size === 0) this.#byOrganization.delete(previous.organizationUri);
  }
}

export interface SimState {
  organizations: Map<string, Organization>;
  users: Map<string, User>;
  grantsByAccess: Map<string, TokenGrant>;
  grantsByRefresh: Map<string, TokenGrant>;
  codes: Map<string, AuthorizationCode>;
  subscriptions: ByOrganization<Subscription>;
  events: ByOrganization<ScheduledEvent>;
  invitees: Map<string, Invitee>;
  faults: Faults;
  tokenRequests: TokenRequestRecord[];
  requestCounts: Map<string, RequestCount>;
  apiLimiter: RateLimiter;
  tokenLimiter: RateLimiter;
}

export function createState(apiLimiter: RateLimiter, tokenLimiter: RateLimiter): SimState {
  return {
    organizations: new Map(),
    users: new Map(),
    grantsByAccess: new Map(),
    grantsByRefresh: new Map(),
    codes: new Map(),
    subscriptions: new ByOrganization(),
    events: new ByOrganization(),
    invitees: new Map(),
    faults: { ...NO_FAULTS },
    tokenRequests: [],
    requestCounts: new Map(),
    apiLimiter,
    tokenLimiter,
  };
}

export function clearState(state: SimState): void {
  state.organizations.clear();
  state.users.clear();
  state.grantsByAccess.clear();
  state.grantsByRefresh.clear();
  state.codes.clear();
  state.subscriptions.clear();
  state.events.clear();
  state.invitees.clear();
  state.faults = { ...NO_FAULTS };
  state.tokenRequests.length = 0;
  state.requestCounts.clear();
  state.apiLimiter.clear();
  state.tokenLimiter.clear();
}
