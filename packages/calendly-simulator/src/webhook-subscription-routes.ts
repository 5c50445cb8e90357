// `/webhook_subscriptions`: create, list, get, delete, with Calendly's validation and rules.
import type { FastifyInstance } from 'fastify';
import { authOf, hasScope } from './api-auth.ts';
import {
  type ErrorDetail,
  invalidArgument,
  notFound,
  permissionDenied,
  sendApiError,
} from './api-errors.ts';
import type { SimContext } from './context.ts';
import { apiUri, canonicalUri, uuid } from './ids.ts';
import { flatQuery, paginate, parsePageRequest } from './pagination.ts';
import { subscriptionResource } from './resources.ts';
import { hookOwnerKey, type Subscription, type Subscriptions, WEBHOOK_EVENTS } from './state.ts';

const SCOPES = ['user', 'organization', 'group'] as const;
type SubscriptionScope = (typeof SCOPES)[number];

function isScope(value: unknown): value is SubscriptionScope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

/**
 * Calendly's documented conflict: in one organization, user-scoped subscriptions of the same
 * user cannot share a callback URL (409), whatever their state (a disabled one still blocks
 * until it is deleted). Organization- and group-scoped subscriptions never conflict.
 */
export function conflictingHook(
  subscriptions: Subscriptions,
  candidate: Pick<Subscription, 'callbackUrl' | 'organizationUri' | 'scope' | 'userUri'>,
): Subscription | undefined {
  if (candidate.scope !== 'user') return undefined;
  const key = hookOwnerKey(candidate.organizationUri, 'user', candidate.userUri);
  for (const existing of subscriptions.filed('owner', key)) {
    if (existing.callbackUrl === candidate.callbackUrl) return existing;
  }
  return undefined;
}

/** Calendly's refusal under the older plan gate (`freePlanWebhooks: 'refused'`). */
export const FREE_PLAN_REFUSAL = 'Please upgrade to a paid Calendly account.';

export function webhookSubscriptionRoutes(context: SimContext) {
  const { state, options, dispatcher } = context;

  return async function register(app: FastifyInstance) {
    app.post('/webhook_subscriptions', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'webhooks:write')) return reply;
      const body: Record<string, unknown> =
        typeof request.body === 'object' && request.body !== null && !Array.isArray(request.body)
          ? (request.body as Record<string, unknown>)
          : {};
      const details: ErrorDetail[] = [];
      const { url, events, organization, scope, user, group, signing_key: signingKey } = body;

      if (!nonEmptyString(url)) details.push({ parameter: 'url', message: 'is required' });
      else if (!/^https?:\/\/[^\s/]+/.test(url) || !URL.canParse(url)) {
        details.push({ parameter: 'url', message: 'is not a valid URL' });
      }
      if (!Array.isArray(events) || events.length === 0) {
        details.push({ parameter: 'events', message: 'is required' });
      } else {
        for (const event of events) {
          if (typeof event !== 'string' || !(WEBHOOK_EVENTS as readonly string[]).includes(event)) {
            details.push({ parameter: 'events', message: `${String(event)} is not a valid event` });
          } else if (event === 'routing_form_submission.created' && scope !== 'organization') {
            details.push({ parameter: 'events', message: `${event} needs organization scope` });
          }
        }
      }
      if (!nonEmptyString(organization)) {
        details.push({ parameter: 'organization', message: 'is required' });
      } else if (canonicalUri(organization) !== auth.user.organizationUri) {
        details.push({
          parameter: 'organization',
          message: 'is not the organization of the authenticated user',
        });
      }
      if (!nonEmptyString(scope)) details.push({ parameter: 'scope', message: 'is required' });
      else if (!isScope(scope)) {
        details.push({ parameter: 'scope', message: `must be one of ${SCOPES.join(', ')}` });
      }
      if (scope === 'user' && !nonEmptyString(user)) {
        details.push({ parameter: 'user', message: 'is required when scope is user' });
      }
      if (scope === 'group' && !nonEmptyString(group)) {
        details.push({ parameter: 'group', message: 'is required when scope is group' });
      }
      if (signingKey !== undefined && signingKey !== null && typeof signingKey !== 'string') {
        details.push({ parameter: 'signing_key', message: 'must be a string' });
      }
      if (details.length > 0 || !isScope(scope) || !nonEmptyString(url)) {
        return invalidArgument(reply, details);
      }

      if (auth.user.plan === 'free' && state.settings.freePlanWebhooks === 'refused') {
        return permissionDenied(reply, FREE_PLAN_REFUSAL);
      }
      const userUri = scope === 'user' && typeof user === 'string' ? canonicalUri(user) : null;
      if (scope === 'user' && userUri !== auth.user.uri) return permissionDenied(reply);
      if (scope === 'organization' && auth.user.role !== 'owner') return permissionDenied(reply);

      const now = options.now();
      const candidate = {
        callbackUrl: url,
        organizationUri: auth.user.organizationUri,
        scope,
        userUri,
        groupUri: scope === 'group' && typeof group === 'string' ? canonicalUri(group) : null,
      };
      if (conflictingHook(state.subscriptions, candidate)) {
        return sendApiError(reply, 409, 'Already Exists', 'Hook with this url already exists');
      }
      const subscription: Subscription = {
        ...candidate,
        uri: apiUri(`/webhook_subscriptions/${uuid()}`),
        events: [...new Set(events as string[])],
        creatorUri: auth.user.uri,
        createdWith: auth.grant.kind,
        signingKey: typeof signingKey === 'string' && signingKey !== '' ? signingKey : null,
        state: 'active',
        retryStartedAtMs: null,
        foreign: false,
        createdAtMs: now,
        updatedAtMs: now,
      };
      state.subscriptions.set(subscription.uri, subscription);
      options.logger.info(`subscription ${subscription.uri} -> ${subscription.callbackUrl}`);
      return reply.code(201).send({ resource: subscriptionResource(subscription) });
    });

    app.get('/webhook_subscriptions', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'webhooks:read', 'webhooks:write')) return reply;
      const query = flatQuery(request.query);
      const details: ErrorDetail[] = [];
      if (!query.organization) details.push({ parameter: 'organization', message: 'is required' });
      if (!query.scope) details.push({ parameter: 'scope', message: 'is required' });
      else if (!isScope(query.scope)) {
        details.push({ parameter: 'scope', message: `must be one of ${SCOPES.join(', ')}` });
      }
      if (query.scope === 'user' && !query.user) {
        details.push({ parameter: 'user', message: 'is required when scope is user' });
      }
      if (query.scope === 'group' && !query.group) {
        details.push({ parameter: 'group', message: 'is required when scope is group' });
      }
      const page = parsePageRequest(query);
      if (!page.ok) details.push(...page.details);
      if (details.length > 0 || !page.ok) return invalidArgument(reply, details);
      const organizationUri = canonicalUri(query.organization ?? '');
      if (organizationUri !== auth.user.organizationUri) return permissionDenied(reply);

      const scope = query.scope as SubscriptionScope;
      const owner = scope === 'user' ? query.user : scope === 'group' ? query.group : undefined;
      const key = hookOwnerKey(organizationUri, scope, owner ? canonicalUri(owner) : null);
      const matching = [...state.subscriptions.filed('owner', key)]
        .sort((a, b) => a.createdAtMs - b.createdAtMs)
        .map(subscriptionResource);
      return paginate(matching, page.page, '/webhook_subscriptions', query);
    });

    app.get<{ Params: { id: string } }>('/webhook_subscriptions/:id', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'webhooks:read', 'webhooks:write')) return reply;
      const subscription = state.subscriptions.get(
        apiUri(`/webhook_subscriptions/${request.params.id}`),
      );
      if (!subscription || subscription.organizationUri !== auth.user.organizationUri) {
        return notFound(reply);
      }
      return { resource: subscriptionResource(subscription) };
    });

    app.delete<{ Params: { id: string } }>('/webhook_subscriptions/:id', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'webhooks:write')) return reply;
      const uri = apiUri(`/webhook_subscriptions/${request.params.id}`);
      const subscription = state.subscriptions.get(uri);
      if (!subscription || subscription.organizationUri !== auth.user.organizationUri) {
        return notFound(reply);
      }
      state.subscriptions.delete(uri);
      dispatcher.forget(uri);
      return reply.code(204).send();
    });
  };
}
