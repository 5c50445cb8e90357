// Bearer authentication and per-user rate limiting in front of every API route.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { checkAccessToken } from './accounts.ts';
import { permissionDenied, sendApiError } from './api-errors.ts';
import { injectedFailure, type SimContext } from './context.ts';
import type { TokenGrant, User } from './state.ts';

export interface ApiAuth {
  user: User;
  grant: TokenGrant;
}

const auths = new WeakMap<FastifyRequest, ApiAuth>();

/** The caller of an API route; the hook below guarantees it before any handler runs. */
export function authOf(request: FastifyRequest): ApiAuth {
  const auth = auths.get(request);
  if (!auth) throw new Error('API route reached without authentication');
  return auth;
}

export function hasScope(reply: FastifyReply, auth: ApiAuth, ...anyOf: string[]): boolean {
  if (anyOf.some((scope) => auth.grant.scopes.includes(scope))) return true;
  permissionDenied(reply, `Missing required scope: ${anyOf.join(' or ')}`);
  return false;
}

export function createAuthenticate(context: SimContext) {
  const { state, options } = context;
  return async function authenticate(request: FastifyRequest, reply: FastifyReply) {
    const failure = injectedFailure(context);
    if (failure === 429) {
      reply.headers({ 'x-ratelimit-limit': 0, 'x-ratelimit-remaining': 0, 'x-ratelimit-reset': 1 });
      return sendApiError(reply, 429, 'Too Many Requests', 'Rate limit exceeded (injected fault)');
    }
    if (failure === 500) {
      return sendApiError(reply, 500, 'Internal Server Error', 'Injected fault');
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const check = checkAccessToken(state, options.now(), match?.[1]);
    if (!check.ok) {
      const message =
        check.reason === 'expired' ? 'The access token is expired' : 'The access token is invalid';
      return sendApiError(reply, 401, 'Unauthenticated', message);
    }
    const { user } = check;
    const count = state.requestCounts.get(user.uri) ?? { total: 0, rateLimited: 0 };
    state.requestCounts.set(user.uri, count);
    count.total += 1;
    const limit =
      user.plan === 'free' ? options.freePlanRequestsPerMinute : options.requestsPerMinute;
    const decision = state.apiLimiter.hit(user.uri, limit);
    reply.headers({
      'x-ratelimit-limit': decision.limit,
      'x-ratelimit-remaining': decision.remaining,
      'x-ratelimit-reset': decision.resetSeconds,
    });
    if (!decision.allowed) {
      count.rateLimited += 1;
      return sendApiError(
        reply,
        429,
        'Too Many Requests',
        `You have exceeded the limit of ${limit} requests per minute`,
      );
    }
    auths.set(request, check);
  };
}
