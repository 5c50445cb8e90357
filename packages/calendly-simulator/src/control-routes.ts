// The `/_sim/*` control API: drive the simulated world (users, bookings, faults) and inspect
// what the simulator saw and sent. Not part of Calendly; createSimulatorControl is its client.
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  type CreateUserInput,
  createUser,
  findUser,
  issueGrant,
  revokeUserTokens,
  tokenResponse,
} from './accounts.ts';
import type { SimContext } from './context.ts';
import type { SimSubscription, SimUser } from './control-client.ts';
import type { WebhookChange } from './delivery.ts';
import { apiUri, canonicalUri, uriPath, uuid } from './ids.ts';
import { inviteeResource, scheduledEventResource, subscriptionResource } from './resources.ts';
import {
  type Applied,
  type BookInput,
  book,
  type CancelInput,
  cancel,
  reschedule,
  setNoShow,
} from './scheduling.ts';
import { clearState, type Faults, NO_FAULTS, type Subscription, type User } from './state.ts';
import { nextStamp } from './time.ts';

type Body = Record<string, unknown>;

function bodyOf(raw: unknown): Body {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Body) : {};
}

function text(body: Body, key: string): string | undefined {
  const value = body[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  const error = status === 404 ? 'not_found' : status === 409 ? 'conflict' : 'bad_request';
  return reply.code(status).send({ error, message });
}

function simUser(user: User) {
  return {
    uri: user.uri,
    organizationUri: user.organizationUri,
    email: user.email,
    name: user.name,
    plan: user.plan,
  };
}

function simSubscription(subscription: Subscription): SimSubscription {
  return {
    ...subscriptionResource(subscription),
    id: uriPath(subscription.uri).split('/').at(-1) ?? '',
    foreign: subscription.foreign,
    signing_key: subscription.signingKey,
  };
}

export function controlRoutes(context: SimContext) {
  const { state, options, dispatcher } = context;

  function apply<T>(reply: FastifyReply, result: Applied<T>): T | FastifyReply {
    if (!result.ok) return fail(reply, result.status, result.message);
    if (result.changes.length > 0) dispatcher.emit(result.changes satisfies WebhookChange[]);
    return result.value;
  }

  function subscriptionFrom(body: Body): Subscription | undefined {
    const uri = text(body, 'subscriptionUri');
    return uri ? state.subscriptions.get(canonicalUri(uri)) : undefined;
  }

  return async function register(app: FastifyInstance) {
    app.post('/_sim/users', async (request, reply) => {
      const body = bodyOf(request.body);
      const input: CreateUserInput = {
        name: text(body, 'name'),
        email: text(body, 'email'),
        plan: body.plan === 'free' ? 'free' : 'paid',
        organization: text(body, 'organization'),
        timezone: text(body, 'timezone'),
        scopes: Array.isArray(body.scopes) ? body.scopes.map(String) : undefined,
      };
      const created = createUser(state, options.now(), input);
      if (!created.ok) return fail(reply, created.status, created.message);
      const user: SimUser = {
        ...simUser(created.user),
        personalAccessToken: created.personalAccessToken,
      };
      return reply.code(201).send(user);
    });

    app.post('/_sim/tokens', async (request, reply) => {
      const body = bodyOf(request.body);
      const user = findUser(state, text(body, 'userUri') ?? '');
      if (!user) return fail(reply, 404, 'no such user');
      const lifetime =
        typeof body.lifetimeSeconds === 'number'
          ? body.lifetimeSeconds
          : options.accessTokenLifetimeSeconds;
      const grant = issueGrant(state, user, {
        kind: 'oauth',
        clientId: options.clientId,
        now: options.now(),
        lifetimeSeconds: lifetime,
      });
      return tokenResponse(state, grant);
    });

    app.post('/_sim/book', async (request, reply) => {
      const body = bodyOf(request.body);
      return apply(
        reply,
        book(state, options.now(), text(body, 'userUri') ?? '', body as BookInput),
      );
    });

    app.post('/_sim/cancel', async (request, reply) => {
      const body = bodyOf(request.body);
      const input = body as CancelInput;
      return apply(reply, cancel(state, options.now(), text(body, 'inviteeUri') ?? '', input));
    });

    app.post('/_sim/reschedule', async (request, reply) => {
      const body = bodyOf(request.body);
      const startTime = text(body, 'startTime') ?? '';
      return apply(
        reply,
        reschedule(state, options.now(), text(body, 'inviteeUri') ?? '', { startTime }),
      );
    });

    app.post('/_sim/mark-no-show', async (request, reply) => {
      const inviteeUri = text(bodyOf(request.body), 'inviteeUri') ?? '';
      return apply(reply, setNoShow(state, options.now(), inviteeUri, true));
    });

    app.post('/_sim/unmark-no-show', async (request, reply) => {
      const inviteeUri = text(bodyOf(request.body), 'inviteeUri') ?? '';
      return apply(reply, setNoShow(state, options.now(), inviteeUri, false));
    });

    app.get('/_sim/faults', async () => state.faults);

    app.put('/_sim/faults', async (request) => {
      const body = bodyOf(request.body);
      const faults: Faults = {
        duplicate: body.duplicate === true,
        reorder: body.reorder === true,
        delayMs: typeof body.delayMs === 'number' ? Math.max(0, body.delayMs) : NO_FAULTS.delayMs,
        drop: body.drop === true,
        apiErrorRate:
          typeof body.apiErrorRate === 'number' ? Math.min(1, Math.max(0, body.apiErrorRate)) : 0,
        tokenEndpointDown: body.tokenEndpointDown === true,
      };
      state.faults = faults;
      return faults;
    });

    app.post('/_sim/revoke-tokens', async (request, reply) => {
      const user = findUser(state, text(bodyOf(request.body), 'userUri') ?? '');
      if (!user) return fail(reply, 404, 'no such user');
      return { revoked: revokeUserTokens(state, user.uri) };
    });

    app.post('/_sim/expire-access-token', async (request, reply) => {
      const grant = state.grantsByAccess.get(text(bodyOf(request.body), 'accessToken') ?? '');
      if (!grant) return fail(reply, 404, 'no such access token');
      grant.expiresAtMs = options.now() - 1;
      return {};
    });

    app.get('/_sim/subscriptions', async () =>
      [...state.subscriptions.values()].map(simSubscription),
    );

    app.post('/_sim/subscriptions/state', async (request, reply) => {
      const body = bodyOf(request.body);
      const subscription = subscriptionFrom(body);
      if (!subscription) return fail(reply, 404, 'no such subscription');
      if (body.state !== 'active' && body.state !== 'disabled') {
        return fail(reply, 400, 'state must be active or disabled');
      }
      subscription.state = body.state;
      subscription.updatedAtMs = nextStamp(options.now(), subscription.updatedAtMs);
      if (body.state === 'disabled') dispatcher.forget(subscription.uri);
      else subscription.retryStartedAtMs = null;
      return simSubscription(subscription);
    });

    app.post('/_sim/subscriptions/delete', async (request, reply) => {
      const subscription = subscriptionFrom(bodyOf(request.body));
      if (!subscription) return fail(reply, 404, 'no such subscription');
      state.subscriptions.delete(subscription.uri);
      dispatcher.forget(subscription.uri);
      return {};
    });

    app.post('/_sim/subscriptions/foreign', async (request, reply) => {
      const body = bodyOf(request.body);
      const user = findUser(state, text(body, 'userUri') ?? '');
      const url = text(body, 'url');
      if (!user) return fail(reply, 404, 'no such user');
      if (!url || !URL.canParse(url)) return fail(reply, 400, 'url is required');
      const now = options.now();
      const subscription: Subscription = {
        uri: apiUri(`/webhook_subscriptions/${uuid()}`),
        callbackUrl: url,
        events: Array.isArray(body.events)
          ? body.events.map(String)
          : ['invitee.created', 'invitee.canceled'],
        scope: 'user',
        organizationUri: user.organizationUri,
        userUri: user.uri,
        groupUri: null,
        creatorUri: user.uri,
        signingKey: text(body, 'signingKey') ?? null,
        state: 'active',
        retryStartedAtMs: null,
        foreign: true,
        createdAtMs: now,
        updatedAtMs: now,
      };
      state.subscriptions.set(subscription.uri, subscription);
      return reply.code(201).send(simSubscription(subscription));
    });

    app.get('/_sim/deliveries', async (request) => {
      const uri = (request.query as Record<string, string | undefined>).subscriptionUri;
      return dispatcher.deliveries(uri ? canonicalUri(uri) : undefined);
    });

    app.get('/_sim/token-requests', async (request) => {
      const uri = (request.query as Record<string, string | undefined>).userUri;
      const userUri = uri ? canonicalUri(uri) : undefined;
      return state.tokenRequests.filter((r) => !userUri || r.userUri === userUri);
    });

    app.get('/_sim/requests', async () => Object.fromEntries(state.requestCounts));

    app.get('/_sim/state', async () => ({
      users: [...state.users.values()].map(simUser),
      scheduledEvents: [...state.events.values()].map((e) => scheduledEventResource(state, e)),
      invitees: [...state.invitees.values()].map(inviteeResource),
      subscriptions: [...state.subscriptions.values()].map(simSubscription),
      faults: state.faults,
    }));

    app.post('/_sim/settle', async (request) => {
      const body = bodyOf(request.body);
      const horizonMs = typeof body.horizonMs === 'number' ? body.horizonMs : null;
      const timeoutMs = typeof body.timeoutMs === 'number' ? body.timeoutMs : 10_000;
      return dispatcher.settle(horizonMs, timeoutMs);
    });

    app.post('/_sim/reset', async () => {
      dispatcher.clear();
      clearState(state);
      return {};
    });
  };
}
