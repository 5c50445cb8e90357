// Makes Calendly hold exactly one healthy calhook subscription for a connection: list the
// user's subscriptions, plan (subscription-plan.ts), keep or create ours, delete ours that are
// stale, record the outcome on the connection. Connect and reconcile both run it, under the
// user's lock.
import { CalendlyError, MEETING_EVENTS, type WebhookSubscriptionResource } from '@calhook/calendly';
import { type ConnectionRow, connectionRepo, hookRepo, type SubscriptionReport } from '@calhook/db';
import { callbackUrl, hookIdOf, newSigningKey } from '@calhook/webhooks';
import type { ConnectionDeps } from './deps.ts';
import { rethrowUnavailable } from './errors.ts';
import { planSubscriptions, type SubscriptionPlan } from './subscription-plan.ts';

type SyncDeps = Omit<ConnectionDeps, 'queues' | 'backfill'>;

/** The Calendly user and organization a connection subscribes for. */
interface Target {
  connectionId: string;
  user: string;
  organization: string;
}

/** Call with the user's lock held (connect and reconcile take it). */
export async function syncSubscription(
  deps: SyncDeps,
  connectionId: string,
): Promise<SubscriptionReport> {
  const connection = await connectionRepo.findById(deps.db, connectionId);
  const target = targetOf(connection, connectionId);
  let subscriptions: WebhookSubscriptionResource[];
  try {
    subscriptions = await list(deps, target);
  } catch (error) {
    return refusedOrRethrow(deps, target, error);
  }
  const hook = await hookRepo.currentOf(deps.db, connectionId);
  const plan = planSubscriptions({
    subscriptions,
    connectionId,
    currentHookId: hook?.id ?? null,
    publicUrl: deps.publicUrl,
    knownHooks: await hookRepo.known(
      deps.db,
      subscriptions.map((s) => hookIdOf(s.callback_url)).filter((id): id is string => id !== null),
      connectionId,
    ),
  });
  const report: SubscriptionReport = {
    state: 'active',
    kept: [],
    created: [],
    deleted: [],
    untouched: plan.untouched.length,
  };

  let liveHookId = hook?.id ?? null;
  if (plan.keep && hook) {
    report.kept.push(plan.keep.uri);
    report.retryStartedAt = plan.keep.retry_started_at ?? null;
    await hookRepo.confirm(
      deps.db,
      hook.id,
      {
        uri: plan.keep.uri,
        retryStartedAt: plan.keep.retry_started_at ? new Date(plan.keep.retry_started_at) : null,
      },
      deps.now(),
    );
  } else {
    try {
      liveHookId = await create(deps, target, hook?.id ?? null, report);
    } catch (error) {
      return refusedOrRethrow(deps, target, error);
    }
  }
  await removeStale(deps, target, plan, liveHookId, report);

  await connectionRepo.recordSubscriptionCheck(deps.db, connectionId, report, deps.now());
  log(deps, connectionId, report);
  return report;
}

/**
 * The routine check, without the user's lock: Calendly lists our live subscription, active,
 * as recorded, not retrying, and nothing of ours that would have to go. Then nothing changes
 * at Calendly or in the hook, and only the check is recorded on the connection. Anything else
 * (a repair, a refusal) answers null: the caller runs `syncSubscription` under the lock, from
 * a fresh listing, so a concurrent connect or disconnect is never raced. Failures that may
 * pass (5xx, 429, network) are thrown as syncSubscription throws them.
 */
export async function checkSubscription(
  deps: SyncDeps,
  connection: ConnectionRow,
): Promise<SubscriptionReport | null> {
  const hook = await hookRepo.currentOf(deps.db, connection.id);
  if (hook?.state !== 'active' || hook.subscriptionUri === null) return null;
  const target = targetOf(connection, connection.id);
  let subscriptions: WebhookSubscriptionResource[];
  try {
    subscriptions = await list(deps, target, connection);
  } catch (error) {
    if (error instanceof CalendlyError && error.kind === 'forbidden') return null;
    rethrowUnavailable(error);
  }
  const hookIds = subscriptions
    .map((s) => hookIdOf(s.callback_url))
    .filter((id): id is string => id !== null);
  // The usual listing names only this connection's live hook, whose row was just read: no
  // need to look the hook up again.
  const knownHooks = hookIds.every((id) => id === hook.id)
    ? new Map([[hook.id, { id: hook.id, connectionId: connection.id, live: true }]])
    : await hookRepo.known(deps.db, hookIds, connection.id);
  const plan = planSubscriptions({
    subscriptions,
    connectionId: connection.id,
    currentHookId: hook.id,
    publicUrl: deps.publicUrl,
    knownHooks,
  });
  const healthy =
    plan.keep !== null &&
    plan.remove.length === 0 &&
    plan.keep.uri === hook.subscriptionUri &&
    !plan.keep.retry_started_at &&
    hook.retryStartedAt === null;
  if (!healthy || !plan.keep) return null;
  const report: SubscriptionReport = {
    state: 'active',
    kept: [plan.keep.uri],
    created: [],
    deleted: [],
    untouched: plan.untouched.length,
    retryStartedAt: null,
  };
  const at = deps.now();
  if (!(await connectionRepo.recordRoutineCheck(deps.db, connection.id, report, at))) {
    // The connection changed meanwhile (a disconnect, a state recorded elsewhere): recorded
    // the full way, with its change-feed row should the state move.
    await connectionRepo.recordSubscriptionCheck(deps.db, connection.id, report, at);
  }
  return report;
}

function targetOf(connection: ConnectionRow | null, connectionId: string): Target {
  if (!connection?.calendlyUserUri || !connection.organizationUri) {
    throw new Error(`connection ${connectionId} has no Calendly user`);
  }
  return {
    connectionId,
    user: connection.calendlyUserUri,
    organization: connection.organizationUri,
  };
}

/** `row`: the connection just read, whose token is used without reading it again. */
function list(deps: SyncDeps, target: Target, row?: ConnectionRow) {
  return deps.tokens.withAccessToken(
    target.connectionId,
    (token) =>
      deps.calendly.listWebhookSubscriptions(token, {
        organization: target.organization,
        scope: 'user',
        user: target.user,
      }),
    row,
  );
}

/**
 * Creates a subscription for a new hook and returns the hook's id. The hook row exists
 * (pending) before Calendly knows it, so the first delivery, which can arrive right after the
 * create call, finds its key; if Calendly refuses, the row goes again.
 */
async function create(
  deps: SyncDeps,
  target: Target,
  replacesHookId: string | null,
  report: SubscriptionReport,
): Promise<string> {
  const id = deps.newHookId();
  const signingKey = newSigningKey();
  const url = callbackUrl(deps.publicUrl, id);
  await hookRepo.insert(deps.db, {
    id,
    connectionId: target.connectionId,
    calendlyUserUri: target.user,
    organizationUri: target.organization,
    callbackUrl: url,
    events: MEETING_EVENTS,
    signingKeyEnc: deps.sealer.seal(signingKey, { purpose: 'hook_signing_key', id }),
    replacesHookId,
  });
  const createOnce = () =>
    deps.tokens.withAccessToken(target.connectionId, (token) =>
      deps.calendly.createWebhookSubscription(token, {
        url,
        events: [...MEETING_EVENTS],
        organization: target.organization,
        user: target.user,
        scope: 'user',
        signingKey,
      }),
    );
  let subscription: WebhookSubscriptionResource;
  try {
    try {
      subscription = await createOnce();
    } catch (error) {
      if (!(error instanceof CalendlyError && error.kind === 'conflict')) throw error;
      // Calendly already has this URL, signed with a key we may not hold: delete it and
      // create ours once more, so every delivery we accept is signed with a key we keep.
      for (const clash of (await list(deps, target)).filter((s) => s.callback_url === url)) {
        await deleteAtCalendly(deps, target, clash.uri);
        report.deleted.push({ uri: clash.uri, reason: 'duplicate' });
      }
      subscription = await createOnce();
    }
  } catch (error) {
    await hookRepo.discardPending(deps.db, id);
    throw error;
  }
  await deps.db.transaction((tx) =>
    hookRepo.activate(tx, id, target.connectionId, subscription.uri, deps.now()),
  );
  report.created.push(subscription.uri);
  return id;
}

function deleteAtCalendly(deps: SyncDeps, target: Target, uri: string) {
  return deps.tokens.withAccessToken(target.connectionId, (token) =>
    deps.calendly.deleteWebhookSubscription(token, uri),
  );
}

/** Deletes ours that are stale; a failure is left for the next reconcile, never fatal here. */
async function removeStale(
  deps: SyncDeps,
  target: Target,
  plan: SubscriptionPlan,
  liveHookId: string | null,
  report: SubscriptionReport,
): Promise<void> {
  for (const { subscription, reason } of plan.remove) {
    if (report.deleted.some((d) => d.uri === subscription.uri)) continue;
    try {
      await deleteAtCalendly(deps, target, subscription.uri);
      report.deleted.push({ uri: subscription.uri, reason });
    } catch (error) {
      deps.logger.warn(
        { connectionId: target.connectionId, reason, err: error },
        'could not delete a stale subscription; next reconcile retries',
      );
    }
    const staleHookId = hookIdOf(subscription.callback_url);
    if (staleHookId && staleHookId !== liveHookId) {
      await hookRepo.retire(deps.db, staleHookId, target.connectionId, deps.now());
    }
  }
}

/**
 * Calendly refusing a subscription (403: a plan without webhooks, a token without the
 * `webhooks:write` scope) is an outcome, recorded as `unavailable` with Calendly's words and
 * the scopes it names: backfill keeps such a user current. Anything else is rethrown.
 */
async function refusedOrRethrow(
  deps: SyncDeps,
  target: Target,
  error: unknown,
): Promise<SubscriptionReport> {
  if (!(error instanceof CalendlyError && error.kind === 'forbidden')) rethrowUnavailable(error);
  const body = (error.body ?? {}) as { message?: unknown; required_scopes?: unknown };
  const message = typeof body.message === 'string' ? body.message : error.message;
  const requiredScopes = Array.isArray(body.required_scopes)
    ? body.required_scopes.filter((s): s is string => typeof s === 'string')
    : undefined;
  const report: SubscriptionReport = {
    state: 'unavailable',
    kept: [],
    created: [],
    deleted: [],
    untouched: 0,
    message: requiredScopes?.length
      ? `${message} (the token lacks: ${requiredScopes.join(', ')})`
      : message,
    ...(requiredScopes?.length ? { requiredScopes } : {}),
  };
  await connectionRepo.recordSubscriptionCheck(deps.db, target.connectionId, report, deps.now());
  deps.logger.warn(
    { connectionId: target.connectionId, status: error.status, message, requiredScopes },
    'Calendly refused the webhook subscription',
  );
  return report;
}

function log(deps: SyncDeps, connectionId: string, report: SubscriptionReport) {
  if (report.retryStartedAt) {
    deps.logger.error(
      { connectionId, retryStartedAt: report.retryStartedAt },
      'Calendly is retrying failed deliveries to this hook: it disables it 24 h after this',
    );
  }
  if (report.created.length > 0 || report.deleted.length > 0) {
    deps.logger.info(
      {
        connectionId,
        created: report.created.length,
        deleted: report.deleted.map((d) => d.reason),
      },
      'subscription reconciled',
    );
  }
}
