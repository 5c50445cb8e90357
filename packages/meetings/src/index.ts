// Public surface of @calhook/meetings: the order-independent meeting rules, webhook
// ingestion (the `ingest-event` job's logic) and the meetings read side.
export {
  type ApplyObservationResult,
  applyInviteeObservation,
  applyInviteeObservations,
  applyObservationsIsolated,
  type ObservationChanges,
  type ObservationItem,
} from './apply-invitee-observation.ts';
export {
  type BatchSummary,
  createIngestBatcher,
  type IngestBatcher,
  type IngestBatcherOptions,
} from './ingest-batcher.ts';
export {
  type ChangeCounts,
  type Delivery,
  type IngestDeps,
  type IngestOutcome,
  type IngestResult,
  ingestDeliveries,
  ingestDelivery,
} from './ingest-delivery.ts';
export {
  DEFAULT_MEETINGS_LIMIT,
  decodeMeetingsCursor,
  encodeMeetingsCursor,
  type ListMeetingsQuery,
  type ListMeetingsResult,
  listMeetings,
  MAX_MEETINGS_LIMIT,
  type Meeting,
  type MeetingInvitee,
} from './list-meetings.ts';
export {
  inviteeRecordOf,
  inviteesByKeysQuery,
  meetingRecordOf,
  meetingsByKeysQuery,
} from './meeting-store.ts';
export {
  type InviteeRecord,
  type MeetingRecord,
  type MeetingStatus,
  mergeInvitee,
  mergeMeeting,
  type Observation,
  PLACEHOLDER_VERSION,
  type Plan,
  planObservation,
  type StoredSlice,
} from './merge-rules.ts';
export {
  type InviteeObservationInput,
  meetingFromScheduledEvent,
  observationFromPayload,
  parseCalendlyTime,
  placeholderMeeting,
} from './observation.ts';
export { isolatable, pgErrorCode } from './pg-errors.ts';
export {
  type ReplayedEvent,
  type ReplayedRow,
  type ReplayFilter,
  type ReplayOptions,
  type ReplayReport,
  replayInbox,
  urisOfDelivery,
} from './replay.ts';
