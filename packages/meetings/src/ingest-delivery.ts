// The whole `ingest-event` job: inbox row, parse, tenant check, meeting upsert, outcome.
// Expected outcomes are returned, never thrown, so a bad delivery is recorded once instead of
// being retried forever; only infrastructure failures throw (and the job retries them).
// Deliveries are taken in batches: the worker hands over every job it holds at once, and a
// batch costs the round trips and commits of one delivery.
import {
  cleanText,
  inviteeSchema,
  isMeetingEvent,
  parseCleanJson,
  type WebhookEnvelope,
  webhookEnvelopeSchema,
} from '@calhook/calendly';
import { connectionRepo, type Executor } from '@calhook/db';
import { inSpan } from '@calhook/observability';
import { deliveryContentHash } from '@calhook/webhooks';
import type { z } from 'zod';
import { applyInviteeObservations } from './apply-invitee-observation.ts';
import * as inbox from './inbox-store.ts';
import { type InviteeObservationInput, parseCalendlyTime } from './observation.ts';
import { pgErrorCode, refusedData } from './pg-errors.ts';

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

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/**
 * One delivery; the same code as a batch of one. A delivery whose data Postgres refuses for
 * good (a value it cannot hold, a key over an index's size limit) is recorded as `invalid`
 * with Postgres's reason, never retried forever: one bad delivery is counted and skipped.
 */
export async function ingestDelivery(
  db: Executor,
  delivery: Delivery,
  deps: IngestDeps,
): Promise<IngestResult> {
  try {
    const [result] = await ingestDeliveries(db, [delivery], deps);
    if (!result) throw new Error('no result for the delivery');
    return result;
  } catch (error) {
    const refusal = refusedData(error);
    if (!refusal) throw error;
    const detail = `the database refused it (${refusal.code}: ${refusal.message})`;
    const [row] = await inbox.lockByHashes(db, [
      deliveryContentHash(delivery.connectionId, delivery.body),
    ]);
    if (!row) throw error;
    await inbox.markProcessed(
      db,
      [
        {
          id: row.id,
          outcome: 'invalid',
          outcomeDetail: detail,
          eventType: null,
          calendlyCreatedAt: null,
        },
      ],
      deps.now(),
    );
    return { outcome: 'invalid', detail, inboxId: row.id, changed: noChanges() };
  }
}

/**
 * Ingests many deliveries with one inbox insert and one transaction, with the outcome each
 * would have had alone, in the given order (results are in the same order). Throws when the
 * database fails; the whole batch is then undone except the inbox rows, and the caller
 * retries (a delivery that cannot be ingested on its own fails only itself: retry singly).
 */
export async function ingestDeliveries(
  db: Executor,
  deliveries: readonly Delivery[],
  deps: IngestDeps,
): Promise<IngestResult[]> {
  if (deliveries.length === 0) return [];
  const hashes = deliveries.map((d) => deliveryContentHash(d.connectionId, d.body));
  // The first of each content is processed; any later copy in the batch is its duplicate.
  const firstOf = new Map<string, number>();
  for (const [index, hash] of hashes.entries()) if (!firstOf.has(hash)) firstOf.set(hash, index);

  // Written on their own, before anything can fail: an acknowledged delivery is never lost,
  // and the row stays for replay even when processing crashes.
  try {
    await inSpan('ingest inbox insert', { attributes: { 'db.system.name': 'postgresql' } }, () =>
      inbox.insertNew(
        db,
        [...firstOf].map(([contentHash, index]) => {
          const d = deliveries[index] as Delivery;
          return {
            contentHash,
            hookId: d.hookId,
            connectionId: d.connectionId,
            // What Postgres can hold; the hash above is over the bytes as they came.
            body: cleanText(d.body),
            receivedAt: d.receivedAt,
          };
        }),
      ),
    );
  } catch (error) {
    // In a batch the caller retries each delivery alone, and this answer goes to the one
    // whose connection is gone.
    if (pgErrorCode(error) === '23503' && deliveries.length === 1) {
      return [{ outcome: 'invalid', detail: 'connection not found', changed: noChanges() }];
    }
    throw error;
  }

  return inSpan(
    'ingest transaction',
    { attributes: { 'db.system.name': 'postgresql', 'calhook.batch.size': deliveries.length } },
    () => applyInTransaction(db, deliveries, hashes, firstOf, deps),
  );
}

/** The transaction of `ingestDeliveries`, once the inbox rows exist. */
async function applyInTransaction(
  db: Executor,
  deliveries: readonly Delivery[],
  hashes: readonly string[],
  firstOf: ReadonlyMap<string, number>,
  deps: IngestDeps,
): Promise<IngestResult[]> {
  return db.transaction(async (tx): Promise<IngestResult[]> => {
    const locked = await inbox.lockByHashes(tx, [...firstOf.keys()]);
    const inboxByHash = new Map(locked.map((row) => [row.contentHash, row]));
    const userUris = await connectionRepo.calendlyUsersOf(
      tx,
      deliveries.map((d) => d.connectionId),
    );

    const results: IngestResult[] = [];
    const work: { index: number; inboxId: number; step: Step }[] = [];
    for (const [index, delivery] of deliveries.entries()) {
      const hash = hashes[index] as string;
      const row = inboxByHash.get(hash);
      if (!row) throw new Error('inbox row vanished after insert');
      results.push({ outcome: 'duplicate', inboxId: row.id, changed: noChanges() });
      if (firstOf.get(hash) !== index || row.processedAt) continue;
      work.push({
        index,
        inboxId: row.id,
        step: classify(delivery, userUris.get(delivery.connectionId) ?? null),
      });
    }

    const toApply = work.filter(
      (w): w is typeof w & { step: ApplyStep } => w.step.kind === 'apply',
    );
    const applied = await applyInviteeObservations(
      tx,
      toApply.map((w) => ({
        connectionId: (deliveries[w.index] as Delivery).connectionId,
        input: w.step.input,
      })),
    );
    const processed = new Map<number, Processed>();
    for (const [i, w] of toApply.entries()) {
      const result = applied[i];
      const { envelope } = w.step;
      if (!result?.ok) {
        processed.set(w.index, {
          outcome: 'invalid',
          detail: result?.reason ?? 'not applied',
          envelope,
          changed: noChanges(),
        });
        continue;
      }
      const changed: ChangeCounts = {
        meetingsCreated: Number(result.meetingCreated),
        meetingsUpdated: Number(result.meetingUpdated),
        inviteesCreated: Number(result.inviteeCreated),
        inviteesUpdated: Number(result.inviteeUpdated) + result.counterpartsUpdated,
      };
      const any = Object.values(changed).some((n) => n > 0);
      processed.set(w.index, {
        outcome: any ? 'applied' : 'stale',
        envelope,
        changed,
        touchesConnection: true,
      });
    }
    for (const w of work) if (w.step.kind === 'done') processed.set(w.index, w.step.processed);

    const lastEvents = new Map<string, Date>();
    const marks: inbox.InboxMark[] = [];
    for (const w of work) {
      const result = processed.get(w.index) as Processed;
      const delivery = deliveries[w.index] as Delivery;
      if (result.touchesConnection) {
        const seen = lastEvents.get(delivery.connectionId);
        if (!seen || seen < delivery.receivedAt)
          lastEvents.set(delivery.connectionId, delivery.receivedAt);
      }
      marks.push({
        id: w.inboxId,
        outcome: result.outcome,
        outcomeDetail: result.detail ?? null,
        eventType: result.envelope?.event ?? null,
        calendlyCreatedAt: parseCalendlyTime(result.envelope?.created_at),
      });
      results[w.index] = {
        outcome: result.outcome,
        ...(result.detail !== undefined ? { detail: result.detail } : {}),
        inboxId: w.inboxId,
        changed: result.changed,
      };
    }
    await inbox.markProcessed(tx, marks, deps.now());
    await connectionRepo.advanceLastEventAt(tx, lastEvents);
    return results;
  });
}

type Processed = Omit<IngestResult, 'outcome' | 'inboxId'> & {
  outcome: Exclude<IngestOutcome, 'duplicate'>;
  envelope?: WebhookEnvelope;
  /** The delivery came from the connection's own user: it counts as its latest event. */
  touchesConnection?: boolean;
};

interface ApplyStep {
  kind: 'apply';
  input: InviteeObservationInput;
  envelope: WebhookEnvelope;
}
type Step = ApplyStep | { kind: 'done'; processed: Processed };

const done = (processed: Processed): Step => ({ kind: 'done', processed });

/** Everything about a delivery that needs no database: parse, tenant check, event type. */
function classify(delivery: Delivery, calendlyUserUri: string | null): Step {
  let json: unknown;
  try {
    json = parseCleanJson(delivery.body);
  } catch (error) {
    return done({
      outcome: 'invalid',
      detail: `body is not JSON: ${(error as Error).message}`,
      changed: noChanges(),
    });
  }
  const parsedEnvelope = webhookEnvelopeSchema.safeParse(json);
  if (!parsedEnvelope.success) {
    return done({
      outcome: 'invalid',
      detail: `envelope: ${describeIssues(parsedEnvelope.error)}`,
      changed: noChanges(),
    });
  }
  const envelope = parsedEnvelope.data;

  if (!calendlyUserUri || calendlyUserUri !== envelope.created_by) {
    // Never written to anyone's meetings: the hook's user did not create this event.
    return done({
      outcome: 'quarantined',
      detail: calendlyUserUri
        ? `created_by ${envelope.created_by} is not the connection's Calendly user`
        : 'connection has no Calendly user',
      envelope,
      changed: noChanges(),
    });
  }

  if (!isMeetingEvent(envelope.event)) {
    return done({
      outcome: 'ignored',
      detail: `event ${envelope.event}`,
      envelope,
      changed: noChanges(),
      touchesConnection: true,
    });
  }

  const payload = inviteeSchema.safeParse(envelope.payload);
  if (!payload.success) {
    return done({
      outcome: 'invalid',
      detail: `payload: ${describeIssues(payload.error)}`,
      envelope,
      changed: noChanges(),
    });
  }
  const observedAt = parseCalendlyTime(envelope.created_at);
  return {
    kind: 'apply',
    envelope,
    input: {
      invitee: payload.data,
      eventType: envelope.event,
      ...(observedAt ? { observedAt } : {}),
    },
  };
}
