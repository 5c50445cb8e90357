// The `/_sim/*` control API: drive the simulated world (users, bookings, faults) and inspect
// what the simulator saw and sent. Not part of Calendly; createSimulatorControl is its client.
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  type CreateUserInput,
  createUser,
  findUser,
  issueGrant,
  moveUser,
  revokeUserTokens,
  tokenResponse,
} from './accounts.ts';
import { type BulkUsersInput, seedUsers } from './bulk-users.ts';
import type { SimContext } from './context.ts';
import type { SimSubscription, SimUser, SimUserState } from './control-client.ts';
import type { WebhookChange } from './delivery.ts';
import { apiUri, canonicalUri, uriPath, uuid } from './ids.ts';
import { initialSettings } from './options.ts';
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
import {
  clearState,
  type Faults,
  NO_FAULTS,
  type Settings,
  type Subscription,
  type User,
} from './state.ts';
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

/** A number from the body, clamped to [min, max]; `fallback` when absent or not a number. */
function clamped(body: Body, key: string, fallback: number, min: number, max: number): number {
  const value = body[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, value));
}

const OPTIONAL_TEXT = ['inviteeEmail', 'inviteeName', 'startTime', 'eventName', 'timezone'];

/**
 * The booking a control call asks for, or what is wrong with it. Texts are taken exactly as
 * sent: any JSON string (NUL, lone surrogates, any script) must reach deliveries and listings.
 */
function bookInput(body: Body): BookInput | string {
  for (const key of OPTIONAL_TEXT) {
    if (body[key] !== undefined && typeof body[key] !== 'string') return `${key} must be a string`;
  }
  for (const key of ['durationMinutes', 'inviteeLimit']) {
    const value = body[key];
    if (value !== undefined && (typeof value !== 'number' || !(value > 0))) {
      return `${key} must be a number > 0`;
    }
  }
  if (body.groupEventUri !== undefined && typeof body.groupEventUri !== 'string') {
    return 'groupEventUri must be a string';
  }
  const qas = body.questionsAndAnswers;
  if (qas !== undefined) {
    if (!Array.isArray(qas)) return 'questionsAndAnswers must be an array';
    for (const [i, qa] of qas.entries()) {
      const item = bodyOf(qa);
      if (typeof item.question !== 'string' || typeof item.answer !== 'string') {
        return `questionsAndAnswers[${i}] needs a string question and answer`;
      }
    }
  }
  return {
    inviteeEmail: body.inviteeEmail as string | undefined,
    inviteeName: body.inviteeName as string | undefined,
    startTime: body.startTime as string | undefined,
    durationMinutes: body.durationMinutes as number | undefined,
    eventName: body.eventName as string | undefined,
    groupEventUri: body.groupEventUri as string | undefined,
    inviteeLimit: body.inviteeLimit as number | undefined,
    timezone: body.timezone as string | undefined,
    questionsAndAnswers: (qas as unknown[] | undefined)?.map((qa, position) => {
      const item = bodyOf(qa);
      return {
        question: item.question as string,
        answer: item.answer as string,
        position: typeof item.position === 'number' ? item.position : position,
      };
    }),
  };
}

function simUser(user: User): SimUserState {
  return {
    uri: user.uri,
    organizationUri: user.organizationUri,
    email: user.email,
    name: user.name,
    plan: user.plan,
    role: user.role,
    formerOrganizationUris: [...user.formerOrganizationUris],
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

function latencyOf(settings: Settings) {
  return { latencyMs: settings.latencyMs, latencyJitterMs: settings.latencyJitterMs };
}

function plansOf(settings: Settings) {
  return { freePlanWebhooks: settings.freePlanWebhooks };
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
      if (body.plan !== undefined && body.plan !== 'paid' && body.plan !== 'free') {
        return fail(reply, 400, 'plan must be paid or free');
      }
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

    app.post('/_sim/users/bulk', async (request, reply) => {
      const body = bodyOf(request.body);
      const seeded = await seedUsers(state, options.now, options, {
        count: body.count as number,
        plan: body.plan as BulkUsersInput['plan'],
        eventsPerUser: body.eventsPerUser as number | undefined,
        tokens: body.tokens as BulkUsersInput['tokens'],
        webhookUrl: body.webhookUrl as string | undefined,
        webhookEvents: Array.isArray(body.webhookEvents)
          ? body.webhookEvents.map(String)
          : undefined,
        signingKey: text(body, 'signingKey'),
      });
      if (!seeded.ok) return fail(reply, seeded.status, seeded.message);
      return reply.code(201).send(seeded.value);
    });

    app.post('/_sim/users/move', async (request, reply) => {
      const body = bodyOf(request.body);
      const moved = moveUser(
        state,
        options.now(),
        text(body, 'userUri') ?? '',
        text(body, 'organization'),
      );
      if (!moved.ok) return fail(reply, moved.status, moved.message);
      return simUser(moved.user);
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
      const input = bookInput(body);
      if (typeof input === 'string') return fail(reply, 400, input);
      return apply(reply, book(state, options.now(), text(body, 'userUri') ?? '', input));
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
        apiErrorRate: clamped(body, 'apiErrorRate', 0, 0, 1),
        tokenEndpointDown: body.tokenEndpointDown === true,
        rateLimitRate: clamped(body, 'rateLimitRate', 0, 0, 1),
        rateLimitResetSeconds: Math.round(
          clamped(body, 'rateLimitResetSeconds', NO_FAULTS.rateLimitResetSeconds, 1, 3600),
        ),
        omitTokenOwner: body.omitTokenOwner === true,
      };
      state.faults = faults;
      return faults;
    });

    app.get('/_sim/latency', async () => latencyOf(state.settings));

    app.put('/_sim/latency', async (request, reply) => {
      const body = bodyOf(request.body);
      for (const key of ['latencyMs', 'latencyJitterMs']) {
        const value = body[key];
        if (value !== undefined && (typeof value !== 'number' || !(value >= 0))) {
          return fail(reply, 400, `${key} must be a number of ms >= 0`);
        }
      }
      state.settings.latencyMs = (body.latencyMs as number | undefined) ?? 0;
      state.settings.latencyJitterMs = (body.latencyJitterMs as number | undefined) ?? 0;
      return latencyOf(state.settings);
    });

    app.get('/_sim/plans', async () => plansOf(state.settings));

    app.put('/_sim/plans', async (request, reply) => {
      const { freePlanWebhooks } = bodyOf(request.body);
      if (freePlanWebhooks !== 'allowed' && freePlanWebhooks !== 'refused') {
        return fail(reply, 400, 'freePlanWebhooks must be allowed or refused');
      }
      state.settings.freePlanWebhooks = freePlanWebhooks;
      return plansOf(state.settings);
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

    app.get('/_sim/subscriptions', async (request) => {
      const uri = (request.query as Record<string, string | undefined>).userUri;
      const all = uri
        ? state.subscriptions.filed('user', canonicalUri(uri))
        : state.subscriptions.values();
      return [...all].map(simSubscription);
    });

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
        createdWith: 'personal',
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
      clearState(state, initialSettings(options));
      return {};
    });
  };
}
