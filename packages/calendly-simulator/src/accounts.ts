// Users, organizations and the tokens issued to them.
import type { TokenSet } from './control-client.ts';
import { apiUri, canonicalUri, secret, shortId } from './ids.ts';
import { ALL_SCOPES, type Plan, type SimState, type TokenGrant, type User } from './state.ts';

export interface CreateUserInput {
  name?: string;
  email?: string;
  plan?: Plan;
  /** URI of an existing organization to join; otherwise the user owns a new one. */
  organization?: string;
  /** OAuth scopes the user grants; default all. */
  scopes?: string[];
  timezone?: string;
}

export type Failure = { ok: false; status: number; message: string };

export function createUser(
  state: SimState,
  now: number,
  input: CreateUserInput,
): { ok: true; user: User; personalAccessToken: string } | Failure {
  let organizationUri: string;
  let role: User['role'] = 'owner';
  if (input.organization) {
    organizationUri = canonicalUri(input.organization);
    if (!state.organizations.has(organizationUri)) {
      return { ok: false, status: 404, message: `no organization ${input.organization}` };
    }
    role = 'user';
  } else {
    organizationUri = apiUri(`/organizations/${shortId()}`);
    state.organizations.set(organizationUri, { uri: organizationUri, createdAtMs: now });
  }
  const id = shortId();
  const slug = `sim-${id.toLowerCase()}`;
  const user: User = {
    uri: apiUri(`/users/${id}`),
    name: input.name ?? `Sim User ${id.slice(0, 4)}`,
    email: input.email ?? `${slug}@example.com`,
    slug,
    plan: input.plan ?? 'paid',
    role,
    organizationUri,
    scopes: input.scopes ?? [...ALL_SCOPES],
    timezone: input.timezone ?? 'America/New_York',
    createdAtMs: now,
    updatedAtMs: now,
  };
  state.users.set(user.uri, user);
  const grant = issueGrant(state, user, {
    kind: 'personal',
    clientId: null,
    now,
    lifetimeSeconds: null,
  });
  return { ok: true, user, personalAccessToken: grant.accessToken };
}

export function findUser(state: SimState, uriOrEmail: string): User | undefined {
  if (uriOrEmail.includes('@')) {
    for (const user of state.users.values()) if (user.email === uriOrEmail) return user;
    return undefined;
  }
  return state.users.get(canonicalUri(uriOrEmail));
}

export function issueGrant(
  state: SimState,
  user: User,
  input: {
    kind: TokenGrant['kind'];
    clientId: string | null;
    now: number;
    lifetimeSeconds: number | null;
  },
): TokenGrant {
  const grant: TokenGrant = {
    kind: input.kind,
    accessToken: secret(),
    refreshToken: input.kind === 'oauth' ? secret() : null,
    userUri: user.uri,
    clientId: input.clientId,
    scopes: [...user.scopes],
    createdAtMs: input.now,
    expiresAtMs: input.lifetimeSeconds === null ? null : input.now + input.lifetimeSeconds * 1000,
    revoked: false,
    refreshUsed: false,
  };
  state.grantsByAccess.set(grant.accessToken, grant);
  if (grant.refreshToken) state.grantsByRefresh.set(grant.refreshToken, grant);
  return grant;
}

/** The JSON body `/oauth/token` answers with; only OAuth grants (never personal tokens) get one. */
export function tokenResponse(state: SimState, grant: TokenGrant): TokenSet {
  return {
    token_type: 'Bearer',
    access_token: grant.accessToken,
    refresh_token: grant.refreshToken ?? '',
    scope: grant.scopes.join(' '),
    created_at: Math.floor(grant.createdAtMs / 1000),
    expires_in: Math.round(((grant.expiresAtMs ?? grant.createdAtMs) - grant.createdAtMs) / 1000),
    owner: grant.userUri,
    organization: state.users.get(grant.userUri)?.organizationUri ?? '',
  };
}

export type AccessCheck =
  | { ok: true; user: User; grant: TokenGrant }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' };

export function checkAccessToken(
  state: SimState,
  now: number,
  token: string | undefined,
): AccessCheck {
  if (!token) return { ok: false, reason: 'missing' };
  const grant = state.grantsByAccess.get(token);
  const user = grant ? state.users.get(grant.userUri) : undefined;
  if (!grant || !user || grant.revoked) return { ok: false, reason: 'invalid' };
  if (grant.expiresAtMs !== null && now >= grant.expiresAtMs)
    return { ok: false, reason: 'expired' };
  return { ok: true, user, grant };
}

/** As if the user removed the app: every OAuth grant dies; personal tokens are not the app's. */
export function revokeUserTokens(state: SimState, userUri: string): number {
  let revoked = 0;
  for (const grant of state.grantsByAccess.values()) {
    if (grant.userUri === userUri && grant.kind === 'oauth' && !grant.revoked) {
      grant.revoked = true;
      revoked += 1;
    }
  }
  return revoked;
}
