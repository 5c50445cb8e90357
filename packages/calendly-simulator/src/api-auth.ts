// Bearer authentication and per-user rate limiting in front of every API route.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { checkAccessToken } from './accounts.ts';
import { insufficientScope, sendApiError } from './api-errors.ts';
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

/**
 * Whether the caller's token grants `scope` (or a scope that implies it, as `webhooks:write`
 * implies `webhooks:read`); otherwise answers Calendly's 403 naming `scope`.
 */
export function hasScope(
  reply: FastifyReply,
  auth: ApiAuth,
  scope: string,
  ...impliedBy: string[]
): boolean {
  if ([scope, ...impliedBy].some((granted) => auth.grant.scopes.includes(granted))) return true;
  insufficientScope(reply, [scope]);
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
    const tooMany = () => {
      count.rateLimited += 1;
      return sendApiError(
        reply,
        429,
        'Too Many Requests',
        `You have exceeded the limit of ${limit} requests per minute`,
      );
    };
    // The rateLimitRate fault: a 429 storm, as if the user's minute were spent (without
    // spending it), so a caller can be watched converging while a share of its calls is refused.
    const { rateLimitRate, rateLimitResetSeconds } = state.faults;
    if (rateLimitRate > 0 && options.random() < rateLimitRate) {
      reply.headers({
        'x-ratelimit-limit': limit,
        'x-ratelimit-remaining': 0,
        'x-ratelimit-reset': rateLimitResetSeconds,
      });
      return tooMany();
    }
    const decision = state.apiLimiter.hit(user.uri, limit);
    reply.headers({
      'x-ratelimit-limit': decision.limit,
      'x-ratelimit-remaining': decision.remaining,
      'x-ratelimit-reset': decision.resetSeconds,
    });
    if (!decision.allowed) return tooMany();
    auths.set(request, check);
  };
}
