// Users, organizations and the tokens issued to them.
import type { TokenSet } from './control-client.ts';
import { apiUri, canonicalUri, secret, shortId } from './ids.ts';
import { ALL_SCOPES, type Plan, type SimState, type TokenGrant, type User } from './state.ts';
import { nextStamp } from './time.ts';

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

function newOrganization(state: SimState, now: number): string {
  const uri = apiUri(`/organizations/${shortId()}`);
  state.organizations.set(uri, { uri, createdAtMs: now });
  return uri;
}

/** A user without any token: `createUser` adds the personal access token, bulk seeding may not. */
export function addUser(
  state: SimState,
  now: number,
  input: CreateUserInput,
): { ok: true; user: User } | Failure {
  let organizationUri: string;
  let role: User['role'] = 'owner';
  if (input.organization) {
    organizationUri = canonicalUri(input.organization);
    if (!state.organizations.has(organizationUri)) {
      return { ok: false, status: 404, message: `no organization ${input.organization}` };
    }
    role = 'user';
  } else {
    organizationUri = newOrganization(state, now);
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
    formerOrganizationUris: [],
    scopes: input.scopes ?? [...ALL_SCOPES],
    timezone: input.timezone ?? 'America/New_York',
    createdAtMs: now,
    updatedAtMs: now,
  };
  state.users.set(user.uri, user);
  if (!state.usersByEmail.has(user.email)) state.usersByEmail.set(user.email, user);
  return { ok: true, user };
}

export function createUser(
  state: SimState,
  now: number,
  input: CreateUserInput,
): { ok: true; user: User; personalAccessToken: string } | Failure {
  const added = addUser(state, now, input);
  if (!added.ok) return added;
  const grant = issueGrant(state, added.user, {
    kind: 'personal',
    clientId: null,
    now,
    lifetimeSeconds: null,
  });
  return { ok: true, user: added.user, personalAccessToken: grant.accessToken };
}

/**
 * The user leaves their organization for another (as a member) or for a new one they own.
 * Their events stay in the organization they were booked in; tokens keep working and now act
 * in the new organization.
 */
export function moveUser(
  state: SimState,
  now: number,
  userUri: string,
  organization: string | undefined,
): { ok: true; user: User } | Failure {
  const user = findUser(state, userUri);
  if (!user) return { ok: false, status: 404, message: `no user ${userUri}` };
  let target: string;
  if (organization) {
    target = canonicalUri(organization);
    if (!state.organizations.has(target)) {
      return { ok: false, status: 404, message: `no organization ${organization}` };
    }
    if (target === user.organizationUri) {
      return { ok: false, status: 409, message: 'the user is already in that organization' };
    }
  } else {
    target = newOrganization(state, now);
  }
  if (!user.formerOrganizationUris.includes(user.organizationUri)) {
    user.formerOrganizationUris.push(user.organizationUri);
  }
  user.formerOrganizationUris = user.formerOrganizationUris.filter((uri) => uri !== target);
  user.organizationUri = target;
  user.role = organization ? 'user' : 'owner';
  user.updatedAtMs = nextStamp(now, user.updatedAtMs);
  return { ok: true, user };
}

/** Whether the user is, or once was, in the organization. */
export function everIn(user: User, organizationUri: string): boolean {
  return (
    user.organizationUri === organizationUri ||
    user.formerOrganizationUris.includes(organizationUri)
  );
}

export function findUser(state: SimState, uriOrEmail: string): User | undefined {
  if (uriOrEmail.includes('@')) return state.usersByEmail.get(uriOrEmail);
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
  const owned = state.grantsByUser.get(user.uri);
  if (owned) owned.push(grant);
  else state.grantsByUser.set(user.uri, [grant]);
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
  for (const grant of state.grantsByUser.get(userUri) ?? []) {
    if (grant.kind === 'oauth' && !grant.revoked) {
      grant.revoked = true;
      revoked += 1;
    }
  }
  return revoked;
}
