// Calendly's OAuth server: authorize (auto-approved by a simulated user), token, revoke.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createUser, findUser, issueGrant, tokenResponse } from './accounts.ts';
import { sendOAuthError } from './api-errors.ts';
import { injectedFailure, type SimContext } from './context.ts';
import { secret } from './ids.ts';
import { flatQuery, type Query } from './pagination.ts';
import type { TokenGrant, User } from './state.ts';
import { calendlyTime } from './time.ts';

const CODE_LIFETIME_MS = 10 * 60 * 1000;

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Client credentials from HTTP Basic (RFC 6749 2.3.1, form-url-encoded parts) or the form. */
function clientCredentials(request: FastifyRequest, form: Query): { id?: string; secret?: string } {
  const match = /^Basic\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (match?.[1]) {
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) {
      try {
        return {
          id: decodeURIComponent(decoded.slice(0, colon)),
          secret: decodeURIComponent(decoded.slice(colon + 1)),
        };
      } catch {
        return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
      }
    }
  }
  return { id: form.client_id, secret: form.client_secret };
}

function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}

type Exchange =
  | { ok: true; grant: TokenGrant }
  | { ok: false; status: number; error: string; description: string };

export function oauthRoutes(context: SimContext) {
  const { state, options } = context;

  function defaultUser(): User {
    const first = state.users.values().next();
    if (!first.done) return first.value;
    const created = createUser(state, options.now(), {
      name: 'Demo User',
      email: 'demo@example.com',
    });
    if (!created.ok) throw new Error(created.message);
    return created.user;
  }

  function authenticClient(request: FastifyRequest, form: Query): boolean {
    const client = clientCredentials(request, form);
    return (
      client.id === options.clientId &&
      client.secret !== undefined &&
      sameSecret(client.secret, options.clientSecret)
    );
  }

  function exchangeCode(form: Query): Exchange {
    const invalid = (description: string): Exchange => ({
      ok: false,
      status: 400,
      error: 'invalid_grant',
      description,
    });
    const code = form.code ? state.codes.get(form.code) : undefined;
    if (!code) return invalid('The authorization code is invalid');
    if (code.used) return invalid('The authorization code was already used');
    if (options.now() >= code.expiresAtMs) return invalid('The authorization code is expired');
    if (code.clientId !== options.clientId) return invalid('The code was issued to another client');
    if (form.redirect_uri !== code.redirectUri) return invalid('The redirect_uri does not match');
    if (code.codeChallenge !== null) {
      const verifier = form.code_verifier ?? '';
      const computed = createHash('sha256').update(verifier).digest('base64url');
      if (!verifier || !sameSecret(computed, code.codeChallenge)) {
        return invalid('The code_verifier does not match the code_challenge');
      }
    }
    const user = state.users.get(code.userUri);
    if (!user) return invalid('The user is gone');
    code.used = true;
    const grant = issueGrant(state, user, {
      kind: 'oauth',
      clientId: options.clientId,
      now: options.now(),
      lifetimeSeconds: options.accessTokenLifetimeSeconds,
    });
    return { ok: true, grant };
  }

  function exchangeRefresh(form: Query): Exchange {
    const invalid = (description: string): Exchange => ({
      ok: false,
      status: 400,
      error: 'invalid_grant',
      description,
    });
    const old = form.refresh_token ? state.grantsByRefresh.get(form.refresh_token) : undefined;
    if (!old) return invalid('The refresh token is invalid');
    if (old.revoked) return invalid('The refresh token was revoked');
    // Rotation: each refresh token works once; reuse means two clients raced or one leaked.
    if (old.refreshUsed) return invalid('The refresh token was already used');
    if (old.clientId !== options.clientId) return invalid('The token was issued to another client');
    const user = state.users.get(old.userUri);
    if (!user) return invalid('The user is gone');
    old.refreshUsed = true;
    const grant = issueGrant(state, user, {
      kind: 'oauth',
      clientId: options.clientId,
      now: options.now(),
      lifetimeSeconds: options.accessTokenLifetimeSeconds,
    });
    return { ok: true, grant };
  }

  /** The user a token request acts for, so it counts against that user's token rate limit. */
  function requestUser(form: Query): string | null {
    if (form.grant_type === 'authorization_code' && form.code) {
      return state.codes.get(form.code)?.userUri ?? null;
    }
    if (form.grant_type === 'refresh_token' && form.refresh_token) {
      return state.grantsByRefresh.get(form.refresh_token)?.userUri ?? null;
    }
    return null;
  }

  function record(form: Query, userUri: string | null, status: number, outcome: string) {
    state.tokenRequests.push({
      at: calendlyTime(options.now()),
      grantType: form.grant_type ?? null,
      userUri,
      status,
      outcome,
    });
  }

  return async function register(app: FastifyInstance) {
    app.get('/oauth/authorize', async (request, reply) => {
      const query = flatQuery(request.query);
      if (query.client_id !== options.clientId) {
        return sendOAuthError(reply, 400, 'invalid_client', 'Unknown client_id');
      }
      if (!query.redirect_uri || !URL.canParse(query.redirect_uri)) {
        return sendOAuthError(reply, 400, 'invalid_request', 'redirect_uri is missing or invalid');
      }
      const redirectUri = query.redirect_uri;
      const back = (params: Record<string, string | undefined>) =>
        reply.redirect(withParams(redirectUri, { ...params, state: query.state }), 302);
      if (query.response_type !== 'code') {
        return back({ error: 'unsupported_response_type' });
      }
      if (query.code_challenge && (query.code_challenge_method ?? 'plain') !== 'S256') {
        return back({ error: 'invalid_request', error_description: 'only S256 is supported' });
      }
      let user: User | undefined;
      if (query.sim_user) {
        user = findUser(state, query.sim_user);
        if (!user) return sendOAuthError(reply, 400, 'invalid_request', 'Unknown sim_user');
      } else {
        user = defaultUser();
      }
      if (query.sim_deny) return back({ error: 'access_denied' });
      const code = secret(24);
      state.codes.set(code, {
        code,
        clientId: options.clientId,
        redirectUri,
        userUri: user.uri,
        codeChallenge: query.code_challenge ?? null,
        expiresAtMs: options.now() + CODE_LIFETIME_MS,
        used: false,
      });
      return back({ code });
    });

    app.post('/oauth/token', async (request, reply) => {
      const form = flatQuery(request.body);
      reply.header('cache-control', 'no-store');
      const answer = (userUri: string | null, status: number, error: string, text: string) => {
        record(form, userUri, status, error);
        return sendOAuthError(reply, status, error, text);
      };
      if (state.faults.tokenEndpointDown) {
        return answer(null, 503, 'temporarily_unavailable', 'The token endpoint is down');
      }
      const failure = injectedFailure(context);
      if (failure === 429) return answer(null, 429, 'too_many_requests', 'Injected fault');
      if (failure === 500) return answer(null, 500, 'server_error', 'Injected fault');
      if (!authenticClient(request, form)) {
        return answer(null, 401, 'invalid_client', 'Client authentication failed');
      }
      const userUri = requestUser(form);
      if (userUri) {
        const decision = state.tokenLimiter.hit(userUri, options.tokenRequestsPerMinute);
        if (!decision.allowed) {
          reply.header('retry-after', decision.resetSeconds);
          return answer(userUri, 429, 'too_many_requests', 'Too many token requests for this user');
        }
      }
      let result: Exchange;
      if (form.grant_type === 'authorization_code') result = exchangeCode(form);
      else if (form.grant_type === 'refresh_token') result = exchangeRefresh(form);
      else if (!form.grant_type) {
        return answer(userUri, 400, 'invalid_request', 'grant_type is required');
      } else {
        return answer(userUri, 400, 'unsupported_grant_type', 'Unsupported grant_type');
      }
      if (!result.ok) return answer(userUri, result.status, result.error, result.description);
      record(form, result.grant.userUri, 200, 'ok');
      const body = tokenResponse(state, result.grant);
      if (state.faults.omitTokenOwner)
        return { ...body, owner: undefined, organization: undefined };
      return body;
    });

    app.post('/oauth/revoke', async (request: FastifyRequest, reply: FastifyReply) => {
      const form = flatQuery(request.body);
      if (!authenticClient(request, form)) {
        return sendOAuthError(reply, 401, 'invalid_client', 'Client authentication failed');
      }
      // RFC 7009: an unknown token is not an error. Revoking either half ends the whole grant.
      const token = form.token ?? '';
      const grant = state.grantsByAccess.get(token) ?? state.grantsByRefresh.get(token);
      if (grant && grant.kind === 'oauth' && grant.clientId === options.clientId)
        grant.revoked = true;
      return {};
    });
  };
}
