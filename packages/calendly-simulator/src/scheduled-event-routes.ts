// `/scheduled_events` and their invitees: what a backfill lists when deliveries were lost.
import type { FastifyInstance } from 'fastify';
import { authOf, hasScope } from './api-auth.ts';
import { type ErrorDetail, invalidArgument, notFound, permissionDenied } from './api-errors.ts';
import type { SimContext } from './context.ts';
import { apiUri, canonicalUri } from './ids.ts';
import { flatQuery, paginate, parsePageRequest, type Query } from './pagination.ts';
import { inviteeResource, scheduledEventResource } from './resources.ts';
import type { Invitee, ScheduledEvent } from './state.ts';

const STATUSES = ['active', 'canceled'];

function parseTimeParam(query: Query, name: string, details: ErrorDetail[]): number | null {
  const value = query[name];
  if (value === undefined) return null;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    details.push({ parameter: name, message: 'must be an ISO 8601 time' });
    return null;
  }
  return ms;
}

export function scheduledEventRoutes(context: SimContext) {
  const { state } = context;

  function visibleEvent(id: string, organizationUri: string): ScheduledEvent | undefined {
    const event = state.events.get(apiUri(`/scheduled_events/${id}`));
    return event && event.organizationUri === organizationUri ? event : undefined;
  }

  return async function register(app: FastifyInstance) {
    app.get('/scheduled_events', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'scheduled_events:read')) return reply;
      const query = flatQuery(request.query);
      const details: ErrorDetail[] = [];
      if (!query.user && !query.organization && !query.group) {
        details.push({ parameter: 'user', message: 'user, organization or group is required' });
      }
      if (query.status !== undefined && !STATUSES.includes(query.status)) {
        details.push({ parameter: 'status', message: 'must be active or canceled' });
      }
      const sort = query.sort ?? 'start_time:asc';
      if (sort !== 'start_time:asc' && sort !== 'start_time:desc') {
        details.push({ parameter: 'sort', message: 'must be start_time:asc or start_time:desc' });
      }
      const min = parseTimeParam(query, 'min_start_time', details);
      const max = parseTimeParam(query, 'max_start_time', details);
      const page = parsePageRequest(query);
      if (!page.ok) details.push(...page.details);
      if (details.length > 0 || !page.ok) return invalidArgument(reply, details);

      const caller = auth.user;
      let hostUri: string | null = null;
      if (query.user) {
        hostUri = canonicalUri(query.user);
        const host = state.users.get(hostUri);
        if (!host || host.organizationUri !== caller.organizationUri)
          return permissionDenied(reply);
      }
      if (query.organization) {
        if (canonicalUri(query.organization) !== caller.organizationUri) {
          return permissionDenied(reply);
        }
        // Listing a whole organization's events needs an admin; members list their own.
        if (!query.user && caller.role !== 'owner') return permissionDenied(reply);
      }
      const email = query.invitee_email?.toLowerCase();
      const events = [...state.events.inOrganization(caller.organizationUri)]
        .filter(
          (event) =>
            (hostUri === null || event.hostUri === hostUri) &&
            (query.status === undefined || event.status === query.status) &&
            (min === null || event.startMs >= min) &&
            (max === null || event.startMs < max) &&
            (email === undefined ||
              event.inviteeUris.some(
                (uri) => state.invitees.get(uri)?.email.toLowerCase() === email,
              )),
        )
        .sort((a, b) =>
          sort === 'start_time:desc' ? b.startMs - a.startMs : a.startMs - b.startMs,
        )
        .map((event) => scheduledEventResource(state, event));
      return paginate(events, page.page, '/scheduled_events', query);
    });

    app.get<{ Params: { id: string } }>('/scheduled_events/:id', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'scheduled_events:read')) return reply;
      const event = visibleEvent(request.params.id, auth.user.organizationUri);
      if (!event) return notFound(reply);
      return { resource: scheduledEventResource(state, event) };
    });

    app.get<{ Params: { id: string } }>(
      '/scheduled_events/:id/invitees',
      async (request, reply) => {
        const auth = authOf(request);
        if (!hasScope(reply, auth, 'scheduled_events:read')) return reply;
        const event = visibleEvent(request.params.id, auth.user.organizationUri);
        if (!event) return notFound(reply);
        const query = flatQuery(request.query);
        const details: ErrorDetail[] = [];
        if (query.status !== undefined && !STATUSES.includes(query.status)) {
          details.push({ parameter: 'status', message: 'must be active or canceled' });
        }
        const sort = query.sort ?? 'created_at:asc';
        if (sort !== 'created_at:asc' && sort !== 'created_at:desc') {
          details.push({ parameter: 'sort', message: 'must be created_at:asc or created_at:desc' });
        }
        const page = parsePageRequest(query);
        if (!page.ok) details.push(...page.details);
        if (details.length > 0 || !page.ok) return invalidArgument(reply, details);
        const email = query.email?.toLowerCase();
        const invitees = event.inviteeUris
          .map((uri) => state.invitees.get(uri))
          .filter(
            (invitee): invitee is Invitee =>
              invitee !== undefined &&
              (query.status === undefined || invitee.status === query.status) &&
              (email === undefined || invitee.email.toLowerCase() === email),
          )
          .sort((a, b) =>
            sort === 'created_at:desc'
              ? b.createdAtMs - a.createdAtMs
              : a.createdAtMs - b.createdAtMs,
          )
          .map(inviteeResource);
        return paginate(
          invitees,
          page.page,
          `/scheduled_events/${request.params.id}/invitees`,
          query,
        );
      },
    );

    app.get<{ Params: { id: string; inviteeId: string } }>(
      '/scheduled_events/:id/invitees/:inviteeId',
      async (request, reply) => {
        const auth = authOf(request);
        if (!hasScope(reply, auth, 'scheduled_events:read')) return reply;
        const event = visibleEvent(request.params.id, auth.user.organizationUri);
        const invitee = state.invitees.get(`${event?.uri}/invitees/${request.params.inviteeId}`);
        if (!event || !invitee) return notFound(reply);
        return { resource: inviteeResource(invitee) };
      },
    );
  };
}
