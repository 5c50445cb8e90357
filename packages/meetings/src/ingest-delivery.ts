// The whole `ingest-event` job: inbox row, parse, tenant check, meeting upsert, outcome.
// Expected outcomes are returned, never thrown, so a bad delivery is recorded once instead of
// being retried forever; only infrastructure failures throw (and the job retries them).
import { createHash } from 'node:crypto';
import {
  inviteePayloadSchema,
  type WebhookEnvelope,
  webhookEnvelopeSchema,
} from '@calhook/calendly';
import { connections, type Database, eventInbox, type InboxOutcome, type Tx } from '@calhook/db';
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { z } from 'zod';
import { applyInviteeObservation } from './apply-invitee-observation.ts';
import { parseCalendlyTime } from './observation.ts';

export const MEETING_EVENT_TYPES = [
  'invitee.created',
  'invitee.canceled',
  'invitee_no_show.created',
  'invitee_no_show.deleted',
] as const;

export interface Delivery {
  hookId: string;
  connectionId: string;
  /** The raw request body, exactly as received. */
  body: string;
  receivedAt: Date;
}

export interface IngestDeps {
  now: () => Date;
}

export type IngestOutcome =
  | 'applied'
  | 'stale'
  | 'duplicate'
  | 'ignored'
  | 'quarantined'
  | 'invalid';

export interface ChangeCounts {
  meetingsCreated: number;
  meetingsUpdated: number;
  inviteesCreated: number;
  inviteesUpdated: number;
}

export interface IngestResult {
  outcome: IngestOutcome;
  detail?: string;
  inboxId?: number;
  changed: ChangeCounts;
}

const noChanges = (): ChangeCounts => ({
  meetingsCreated: 0,
  meetingsUpdated: 0,
  inviteesCreated: 0,
  inviteesUpdated: 0,
});

/** Calendly has no delivery id; a retried or duplicated delivery is byte-identical. */
export function deliveryContentHash(connectionId: string, body: string): string {
  return createHash('sha256').update(`${connectionId}\n${body}`).digest('hex');
}

function pgErrorCode(error: unknown): string | undefined {
  for (let e = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

export async function ingestDelivery(
  db: Database,
  delivery: Delivery,
  deps: IngestDeps,
): Promise<IngestResult> {
  const contentHash = deliveryContentHash(delivery.connectionId, delivery.body);
  // Written on its own, before anything can fail: an acknowledged delivery is never lost,
  // and the row stays for replay even when processing crashes.
  try {
    await db
      .insert(eventInbox)
      .values({
        contentHash,
        hookId: delivery.hookId,
        connectionId: delivery.connectionId,
        body: delivery.body,
        receivedAt: delivery.receivedAt,
      })
      .onConflictDoNothing({ target: eventInbox.contentHash });
  } catch (error) {
    if (pgErrorCode(error) === '23503') {
      return { outcome: 'invalid', detail: 'connection not found', changed: noChanges() };
    }
    throw error;
  }

  return db.transaction(async (tx): Promise<IngestResult> => {
    // Locking the inbox row makes two workers holding the same delivery take turns: the
    // second sees it processed and reports a duplicate.
    const [inbox] = await tx
      .select({ id: eventInbox.id, processedAt: eventInbox.processedAt })
      .from(eventInbox)
      .where(eq(eventInbox.contentHash, contentHash))
      .for('update');
    if (!inbox) throw new Error('inbox row vanished after insert');
    if (inbox.processedAt) {
      return { outcome: 'duplicate', inboxId: inbox.id, changed: noChanges() };
    }
    const result = await processDelivery(tx, delivery);
    await tx
      .update(eventInbox)
      .set({
        outcome: result.outcome satisfies InboxOutcome,
        outcomeDetail: result.detail ?? null,
        eventType: result.envelope?.event ?? null,
        calendlyCreatedAt: parseCalendlyTime(result.envelope?.created_at),
        processedAt: deps.now(),
      })
      .where(eq(eventInbox.id, inbox.id));
    const { envelope, ...rest } = result;
    return { ...rest, inboxId: inbox.id };
  });
}

type Processed = Omit<IngestResult, 'outcome'> & {
  outcome: Exclude<IngestOutcome, 'duplicate'>;
  envelope?: WebhookEnvelope;
};

async function processDelivery(tx: Tx, delivery: Delivery): Promise<Processed> {
  let json: unknown;
  try {
    json = JSON.parse(delivery.body);
  } catch (error) {
    return {
      outcome: 'invalid',
      detail: `body is not JSON: ${(error as Error).message}`,
      changed: noChanges(),
    };
  }
  const parsedEnvelope = webhookEnvelopeSchema.safeParse(json);
  if (!parsedEnvelope.success) {
    return {
      outcome: 'invalid',
      detail: `envelope: ${describeIssues(parsedEnvelope.error)}`,
      changed: noChanges(),
    };
  }
  const envelope = parsedEnvelope.data;

  const [connection] = await tx
    .select({ calendlyUserUri: connections.calendlyUserUri })
    .from(connections)
    .where(eq(connections.id, delivery.connectionId));
  if (!connection?.calendlyUserUri || connection.calendlyUserUri !== envelope.created_by) {
    // Never written to anyone's meetings: the hook's user did not create this event.
    return {
      outcome: 'quarantined',
      detail: connection?.calendlyUserUri
        ? `created_by ${envelope.created_by} is not the connection's Calendly user`
        : 'connection has no Calendly user',
      envelope,
      changed: noChanges(),
    };
  }

  if (!(MEETING_EVENT_TYPES as readonly string[]).includes(envelope.event)) {
    await bumpLastEventAt(tx, delivery);
    return {
      outcome: 'ignored',
      detail: `event ${envelope.event}`,
      envelope,
      changed: noChanges(),
    };
  }

  const payload = inviteePayloadSchema.safeParse(envelope.payload);
  if (!payload.success) {
    return {
      outcome: 'invalid',
      detail: `payload: ${describeIssues(payload.error)}`,
      envelope,
      changed: noChanges(),
    };
  }
  const observedAt = parseCalendlyTime(envelope.created_at);
  const applied = await applyInviteeObservation(tx, delivery.connectionId, {
    invitee: payload.data,
    eventType: envelope.event,
    ...(observedAt ? { observedAt } : {}),
  });
  if (!applied.ok) {
    return { outcome: 'invalid', detail: applied.reason, envelope, changed: noChanges() };
  }
  await bumpLastEventAt(tx, delivery);
  const changed: ChangeCounts = {
    meetingsCreated: Number(applied.meetingCreated),
    meetingsUpdated: Number(applied.meetingUpdated),
    inviteesCreated: Number(applied.inviteeCreated),
    inviteesUpdated: Number(applied.inviteeUpdated) + applied.counterpartsUpdated,
  };
  const any = Object.values(changed).some((n) => n > 0);
  return { outcome: any ? 'applied' : 'stale', envelope, changed };
}

async function bumpLastEventAt(tx: Tx, delivery: Delivery) {
  await tx
    .update(connections)
    .set({ lastEventAt: delivery.receivedAt })
    .where(
      and(
        eq(connections.id, delivery.connectionId),
        or(isNull(connections.lastEventAt), lt(connections.lastEventAt, delivery.receivedAt)),
      ),
    );
}
