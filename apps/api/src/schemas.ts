// The shapes the api answers with (API.md), as zod schemas: the routes declare them per status,
// so /openapi.json describes every answer and the typed client (@calhook/client) is generated
// from it. Named shapes go to the document's components under their id.
import type { DeliveryView, EndpointView } from '@calhook/app-webhooks';
import {
  type ChangeType,
  type ConnectionView,
  changeTypes,
  connectionStatuses,
  webhookStates,
} from '@calhook/db';
import type { Meeting } from '@calhook/meetings';
import { z } from 'zod';

/**
 * A schema listed in the document's `components.schemas` under `id`. zod's global registry
 * holds it, as it holds every `.describe()`: the document is built from that one registry.
 */
const named = <T extends z.ZodType>(schema: T, id: string, description: string): T =>
  schema.meta({ id, description });

const isoTime = z.iso.datetime({ offset: true });

export const connectionSchema = named(
  z.object({
    userId: z.string(),
    status: z.enum(connectionStatuses),
    calendlyUserUri: z.string().nullable(),
    organizationUri: z.string().nullable(),
    tokenExpiresAt: isoTime.nullable(),
    webhook: z.object({
      state: z.enum(webhookStates),
      subscriptionUri: z.string().nullable(),
      callbackUrl: z.string().nullable(),
      message: z
        .string()
        .nullable()
        .describe("Calendly's words when it refused the subscription (free plan, missing scope)"),
      retryStartedAt: isoTime
        .nullable()
        .describe(
          'Calendly has started retrying failed deliveries: it disables the hook after 24 h',
        ),
    }),
    lastEventAt: isoTime.nullable(),
    lastReconciledAt: isoTime.nullable(),
    lastError: z.string().nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
  }),
  'Connection',
  "An app user's Calendly connection; never a token or key",
);

const meetingStatus = z.enum(['active', 'canceled']);

export const inviteeSchema = named(
  z.object({
    uri: z.string(),
    email: z.string().nullable(),
    name: z.string().nullable(),
    status: meetingStatus,
    noShow: z.boolean(),
    rescheduled: z.boolean(),
    oldInviteeUri: z.string().nullable(),
    newInviteeUri: z.string().nullable(),
    canceledBy: z.string().nullable(),
    cancelReason: z.string().nullable(),
    questionsAndAnswers: z.array(
      z.looseObject({
        question: z.string().nullish(),
        answer: z.string().nullish(),
        position: z.number().nullish(),
      }),
    ),
  }),
  'Invitee',
  'An invitee of a meeting, as Calendly last described it',
);

export const meetingSchema = named(
  z.object({
    id: z.string(),
    calendlyEventUri: z.string(),
    name: z.string().nullable(),
    status: meetingStatus,
    startTime: isoTime,
    endTime: isoTime.nullable(),
    location: z.record(z.string(), z.unknown()).nullable(),
    eventTypeUri: z.string().nullable(),
    canceledAt: isoTime.nullable(),
    cancelReason: z.string().nullable(),
    updatedAt: isoTime,
    version: z
      .number()
      .int()
      .min(1)
      .describe('Grows with every change to the meeting or its invitees: higher is newer'),
    invitees: z.array(inviteeSchema),
  }),
  'Meeting',
  "A scheduled event of a connected user's Calendly, with its invitees",
);

const changeFields = {
  id: z.string(),
  cursor: z.string().describe('Reading with `after` set to this cursor starts after this change'),
  occurredAt: isoTime,
  userId: z.string(),
};

export const changeSchema = named(
  z.discriminatedUnion('type', [
    z.object({
      ...changeFields,
      type: z.enum(['meeting.created', 'meeting.updated', 'meeting.canceled']),
      data: meetingSchema,
    }),
    z.object({
      ...changeFields,
      type: z.literal('connection.updated'),
      data: connectionSchema,
    }),
  ]),
  'Change',
  'One change to a meeting or a connection, with the whole object after it',
);

export const webhookEndpointSchema = named(
  z.object({
    id: z.string(),
    url: z.string(),
    types: z.array(z.enum(changeTypes)).describe('The change types POSTed to the endpoint'),
    description: z.string().nullable(),
    status: z
      .enum(['active', 'failing', 'disabled'])
      .describe('failing: deliveries are being retried; disabled: none for 24 hours'),
    createdAt: isoTime,
  }),
  'WebhookEndpoint',
  'Where changes are POSTed, signed per Standard Webhooks; never with its secret',
);

export const webhookSecretSchema = z.object({
  secret: z.string().describe('`whsec_` and the base64 of the key that signs deliveries'),
});

export const newWebhookEndpointSchema = named(
  webhookEndpointSchema.extend(webhookSecretSchema.shape),
  'NewWebhookEndpoint',
  'A webhook endpoint just created, with its signing secret',
);

export const webhookDeliverySchema = named(
  z.object({
    changeId: z.string(),
    attempt: z.number().int().min(1),
    status: z
      .union([z.number().int(), z.literal('error')])
      .describe("The endpoint's HTTP status, or error when there was none"),
    error: z.string().optional().describe('What went wrong when there was no HTTP status'),
    at: isoTime,
    durationMs: z.number(),
  }),
  'WebhookDelivery',
  'One attempt to deliver a change to an endpoint',
);

export const cursorExpiredSchema = named(
  z.object({
    error: z.literal('cursor_expired'),
    message: z.string(),
    oldestCursor: z.string().describe('Where the changes still kept start'),
  }),
  'CursorExpired',
  'The changes after this cursor are older than CHANGES_RETENTION',
);

/** GET /v1/users/:userId/meetings. */
export const meetingsPageSchema = z.object({
  meetings: z.array(meetingSchema),
  nextCursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page; null on the last page'),
});

/** GET /v1/changes. */
export const changesPageSchema = z.object({
  changes: z.array(changeSchema),
  nextCursor: z
    .string()
    .describe('Always present: read again with `after` set to it (also after an empty page)'),
});

export type ApiMeeting = z.output<typeof meetingSchema>;
export type ApiChange = z.output<typeof changeSchema>;

// The views are defined where they are rendered; these checks keep the schemas equal to them.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameConnection: Same<z.infer<typeof connectionSchema>, ConnectionView> = true;
const sameMeeting: Same<
  Omit<z.infer<typeof meetingSchema>, 'location' | 'invitees'>,
  Omit<Meeting, 'location' | 'invitees'>
> = true;
const sameInvitee: Same<
  Omit<z.infer<typeof inviteeSchema>, 'questionsAndAnswers'>,
  Omit<Meeting['invitees'][number], 'questionsAndAnswers'>
> = true;
const everyChangeType: Same<z.infer<typeof changeSchema>['type'], ChangeType> = true;
const sameEndpoint: Same<z.infer<typeof webhookEndpointSchema>, EndpointView> = true;
const sameDelivery: Same<z.infer<typeof webhookDeliverySchema>, DeliveryView> = true;
void [sameConnection, sameMeeting, sameInvitee, everyChangeType, sameEndpoint, sameDelivery];

// Errors: `error` is a stable code, `message` says what to do about it.

const errorOf = <C extends string>(code: C) =>
  z.object({ error: z.literal(code), message: z.string() });

export const invalidRequestSchema = named(
  z.object({
    error: z.literal('invalid_request'),
    field: z
      .string()
      .describe('Where the problem is: `body.<field>`, `querystring.<name>` or `params.<name>`'),
    message: z.string(),
  }),
  'InvalidRequest',
  'The request was refused before anything changed; `field` names the part at fault',
);

/** A body that is not JSON, or another request Fastify refuses before the route runs. */
export const badRequestSchema = errorOf('bad_request');

/** 400 on a route with a JSON body: a named field at fault, or a body that is not JSON. */
export const invalidBodySchema = z.union([invalidRequestSchema, badRequestSchema]);

export const unauthorizedSchema = named(
  errorOf('unauthorized'),
  'Unauthorized',
  'Missing or wrong `Authorization: Bearer <API_TOKEN>`',
);

export const notFoundSchema = named(
  errorOf('not_found'),
  'NotFound',
  'Nothing here: for a user, one that never connected',
);

export const internalErrorSchema = z.object({ error: z.literal('internal') });

export const calendlyRejectedSchema = named(
  z.object({
    error: z.literal('calendly_rejected'),
    detail: z.unknown().describe("Calendly's error body, passed on"),
  }),
  'CalendlyRejected',
  'Calendly refused the code or tokens',
);

export const calendlyUnavailableSchema = errorOf('calendly_unavailable');
