// Typed HTTP client of the simulator's `/_sim/*` control API, usable from any process.
import type { CreateUserInput } from './accounts.ts';
import type { BulkUsers, BulkUsersInput } from './bulk-users.ts';
import type { DeliveryRecord, SettleResult } from './delivery.ts';
import type { subscriptionResource } from './resources.ts';
import type { Booked, BookInput, CancelInput } from './scheduling.ts';
import type { Faults, RequestCount, Settings, TokenRequestRecord } from './state.ts';

export type { CreateUserInput } from './accounts.ts';
export type { BulkUsers, BulkUsersInput } from './bulk-users.ts';
export type { DeliveryRecord, SettleResult } from './delivery.ts';
export type { Booked, BookInput, CancelInput } from './scheduling.ts';
export type { Faults, RequestCount, TokenRequestRecord } from './state.ts';

export interface SimUser {
  uri: string;
  organizationUri: string;
  email: string;
  name: string;
  plan: 'paid' | 'free';
  /** Never expires and has no refresh token, like a Calendly personal access token. */
  personalAccessToken: string;
}

/** A user as the simulator holds it: where they are now and where they were. */
export interface SimUserState extends Omit<SimUser, 'personalAccessToken'> {
  role: 'owner' | 'user';
  /** Organizations the user left (`moveUser`); their events stay there. */
  formerOrganizationUris: string[];
}

export type Latency = Pick<Settings, 'latencyMs' | 'latencyJitterMs'>;
export type Plans = Pick<Settings, 'freePlanWebhooks'>;

/** Exactly what `/oauth/token` answers. */
export interface TokenSet {
  token_type: 'Bearer';
  access_token: string;
  refresh_token: string;
  scope: string;
  created_at: number;
  expires_in: number;
  owner: string;
  organization: string;
}

/** A subscription as the API shows it, plus what only the simulator knows. */
export type SimSubscription = ReturnType<typeof subscriptionResource> & {
  id: string;
  foreign: boolean;
  signing_key: string | null;
};

export interface SimStateSnapshot {
  users: SimUserState[];
  scheduledEvents: unknown[];
  invitees: unknown[];
  subscriptions: SimSubscription[];
  faults: Faults;
}

export interface SimulatorControl {
  createUser(input?: CreateUserInput): Promise<SimUser>;
  /**
   * Seeds `count` users at once (up to 100,000 a call), each with their own organization and a
   * token, optionally a subscription and bookings; no webhook is sent. Answers by column.
   */
  createUsers(input: BulkUsersInput): Promise<BulkUsers>;
  /**
   * Moves the user to `organization` (as a member) or to a new organization they own. Their
   * events stay in the old organization and still list under `user=`.
   */
  moveUser(userUri: string, input?: { organization?: string }): Promise<SimUserState>;
  issueTokens(userUri: string, input?: { lifetimeSeconds?: number }): Promise<TokenSet>;
  book(userUri: string, input?: BookInput): Promise<Booked>;
  cancel(inviteeUri: string, input?: CancelInput): Promise<Booked>;
  reschedule(inviteeUri: string, input: { startTime: string }): Promise<Booked>;
  markNoShow(inviteeUri: string): Promise<{ inviteeUri: string; noShowUri: string | null }>;
  unmarkNoShow(inviteeUri: string): Promise<{ inviteeUri: string; noShowUri: string | null }>;
  /** Replaces the fault switches; `faults({})` turns them all off. */
  faults(input: Partial<Faults>): Promise<Faults>;
  /** Replaces the latency of API and OAuth calls; `latency({})` removes it. */
  latency(input: Partial<Latency>): Promise<Latency>;
  /** Whether Free-plan users may create webhook subscriptions ('allowed' unless set). */
  plans(input: Plans): Promise<Plans>;
  revokeTokens(userUri: string): Promise<{ revoked: number }>;
  expireAccessToken(accessToken: string): Promise<void>;
  /** Every subscription, or those of one user (user scope). */
  subscriptions(filter?: { userUri?: string }): Promise<SimSubscription[]>;
  setSubscriptionState(
    subscriptionUri: string,
    state: 'active' | 'disabled',
  ): Promise<SimSubscription>;
  /** As if the user deleted the subscription in Calendly's UI. */
  deleteSubscription(subscriptionUri: string): Promise<void>;
  /** Another app's user-scoped subscription on the same user. */
  createForeignSubscription(
    userUri: string,
    url: string,
    input?: { events?: string[]; signingKey?: string },
  ): Promise<SimSubscription>;
  deliveries(filter?: { subscriptionUri?: string }): Promise<DeliveryRecord[]>;
  tokenRequests(filter?: { userUri?: string }): Promise<TokenRequestRecord[]>;
  requests(): Promise<Record<string, RequestCount>>;
  state(): Promise<SimStateSnapshot>;
  /**
   * Waits until no delivery is in flight and none is due within `horizonMs` (default: none
   * due at all), or `timeoutMs` (default 10000) passes; `settled` tells which.
   */
  settle(input?: { horizonMs?: number; timeoutMs?: number }): Promise<SettleResult>;
  reset(): Promise<void>;
}

export class SimulatorControlError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, body: unknown, path: string) {
    super(`simulator control ${path} answered ${status}: ${JSON.stringify(body)}`);
    this.name = 'SimulatorControlError';
    this.status = status;
    this.body = body;
  }
}

export function createSimulatorControl(url: string): SimulatorControl {
  const base = url.replace(/\/+$/, '');

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${base}/_sim${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed: unknown = text === '' ? undefined : JSON.parse(text);
    if (!response.ok) throw new SimulatorControlError(response.status, parsed, path);
    return parsed as T;
  }

  function query(params: Record<string, string | undefined>): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  return {
    createUser: (input = {}) => call('POST', '/users', input),
    createUsers: (input) => call('POST', '/users/bulk', input),
    moveUser: (userUri, input = {}) => call('POST', '/users/move', { userUri, ...input }),
    issueTokens: (userUri, input = {}) => call('POST', '/tokens', { userUri, ...input }),
    book: (userUri, input = {}) => call('POST', '/book', { userUri, ...input }),
    cancel: (inviteeUri, input = {}) => call('POST', '/cancel', { inviteeUri, ...input }),
    reschedule: (inviteeUri, input) => call('POST', '/reschedule', { inviteeUri, ...input }),
    markNoShow: (inviteeUri) => call('POST', '/mark-no-show', { inviteeUri }),
    unmarkNoShow: (inviteeUri) => call('POST', '/unmark-no-show', { inviteeUri }),
    faults: (input) => call('PUT', '/faults', input),
    latency: (input) => call('PUT', '/latency', input),
    plans: (input) => call('PUT', '/plans', input),
    revokeTokens: (userUri) => call('POST', '/revoke-tokens', { userUri }),
    expireAccessToken: (accessToken) => call('POST', '/expire-access-token', { accessToken }),
    subscriptions: (filter = {}) => call('GET', `/subscriptions${query(filter)}`),
    setSubscriptionState: (subscriptionUri, state) =>
      call('POST', '/subscriptions/state', { subscriptionUri, state }),
    deleteSubscription: (subscriptionUri) =>
      call('POST', '/subscriptions/delete', { subscriptionUri }),
    createForeignSubscription: (userUri, url, input = {}) =>
      call('POST', '/subscriptions/foreign', { userUri, url, ...input }),
    deliveries: (filter = {}) => call('GET', `/deliveries${query(filter)}`),
    tokenRequests: (filter = {}) => call('GET', `/token-requests${query(filter)}`),
    requests: () => call('GET', '/requests'),
    state: () => call('GET', '/state'),
    settle: (input = {}) => call('POST', '/settle', input),
    reset: () => call('POST', '/reset', {}),
  };
}
