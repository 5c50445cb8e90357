// An in-memory stand-in for the meetings tables that runs the same plan as the database path,
// so the order-independence property can be checked thousands of times in a unit test.
import { inviteeSchema } from '@calhook/calendly';
import type { InviteeRecord, MeetingRecord, Observation } from '../src/merge-rules.ts';
import { planObservation } from '../src/merge-rules.ts';
import { observationFromPayload, parseCalendlyTime } from '../src/observation.ts';
import type { ScenarioEnvelope } from './scenarios.ts';

export interface MemoryStore {
  meetings: Map<string, MeetingRecord>;
  invitees: Map<string, InviteeRecord>;
}

export function emptyStore(): MemoryStore {
  return { meetings: new Map(), invitees: new Map() };
}

export function applyToMemory(store: MemoryStore, observation: Observation): void {
  const self = observation.invitee.calendlyInviteeUri;
  const counterparts = new Map<string, InviteeRecord>();
  for (const uri of [observation.invitee.oldInviteeUri, observation.invitee.newInviteeUri]) {
    const row = uri && uri !== self ? store.invitees.get(uri) : undefined;
    if (uri && row) counterparts.set(uri, row);
  }
  const rows = [...store.invitees.values()];
  const plan = planObservation(
    {
      meeting: store.meetings.get(observation.meeting.calendlyEventUri),
      invitee: store.invitees.get(self),
      counterparts,
      linkedFrom: {
        asNewOf: rows.filter((r) => r.newInviteeUri === self).map((r) => r.calendlyInviteeUri),
        asOldOf: rows.filter((r) => r.oldInviteeUri === self).map((r) => r.calendlyInviteeUri),
      },
    },
    observation,
  );
  store.meetings.set(plan.meeting.calendlyEventUri, plan.meeting);
  store.invitees.set(self, plan.invitee);
  for (const row of plan.counterparts) store.invitees.set(row.calendlyInviteeUri, row);
}

/** The observation a scenario envelope carries, parsed the way ingestion parses it. */
export function observationOf(envelope: ScenarioEnvelope): Observation {
  const observedAt = parseCalendlyTime(envelope.created_at) ?? undefined;
  const result = observationFromPayload({
    invitee: inviteeSchema.parse(envelope.payload),
    eventType: envelope.event,
    ...(observedAt ? { observedAt } : {}),
  });
  if (!result.ok) throw new Error(result.reason);
  return result.observation;
}
