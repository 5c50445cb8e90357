// `/scheduled_events` and their invitees: what a backfill lists when deliveries were lost.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { everIn } from './accounts.ts';
import { authOf, hasScope } from './api-auth.ts';
import { type ErrorDetail, invalidArgument, notFound, permissionDenied } from './api-errors.ts';
import type { SimContext } from './context.ts';
import { apiUri, canonicalUri } from './ids.ts';
import { flatQuery, paginate, parsePageRequest, type Query } from './pagination.ts';
import { inviteeResource, scheduledEventResource } from './resources.ts';
import type { Invitee, ScheduledEvent, User } from './state.ts';

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

  /**
   * The event as the caller may see it: 'visible' in their current organization; 'former' when
   * it belongs to an organization they left (they still host it or were in it), where Calendly
   * shows the event in listings but refuses its invitees; otherwise 'hidden' (404).
   */
  function lookUpEvent(
    id: string,
    caller: User,
  ): { access: 'visible' | 'former'; event: ScheduledEvent } | { access: 'hidden' } {
    const event = state.events.get(apiUri(`/scheduled_events/${id}`));
    if (!event) return { access: 'hidden' };
    if (event.organizationUri === caller.organizationUri) return { access: 'visible', event };
    if (event.hostUri === caller.uri || everIn(caller, event.organizationUri)) {
      return { access: 'former', event };
    }
    return { access: 'hidden' };
  }

  /** The event whose invitees the caller asks for; null once a 404 or 403 has been sent. */
  function inviteesEvent(id: string, caller: User, reply: FastifyReply): ScheduledEvent | null {
    const found = lookUpEvent(id, caller);
    if (found.access === 'visible') return found.event;
    if (found.access === 'hidden') notFound(reply);
    else permissionDenied(reply, 'You are not allowed to view this event');
    return null;
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
      let candidates: Iterable<ScheduledEvent>;
      let organizationUri: string | null = null;
      if (query.organization) {
        organizationUri = canonicalUri(query.organization);
        if (organizationUri !== caller.organizationUri) return permissionDenied(reply);
        // Listing a whole organization's events needs an admin; members list their own.
        if (!query.user && caller.role !== 'owner') return permissionDenied(reply);
      }
      if (query.user) {
        const hostUri = canonicalUri(query.user);
        const host = state.users.get(hostUri);
        if (!host || host.organizationUri !== caller.organizationUri) {
          return permissionDenied(reply);
        }
        // With `user=` alone Calendly lists the user's events in every organization they
        // are in or ever were in; with `organization=` too, that organization's only.
        candidates = state.events.filed('host', hostUri);
      } else if (organizationUri) {
        candidates = state.events.filed('organization', organizationUri);
      } else {
        // Group listings: the simulator has no groups, so a group has no events.
        candidates = [];
      }
      const email = query.invitee_email?.toLowerCase();
      const events = [...candidates]
        .filter(
          (event) =>
            (organizationUri === null || event.organizationUri === organizationUri) &&
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
      const found = lookUpEvent(request.params.id, auth.user);
      if (found.access === 'hidden') return notFound(reply);
      return { resource: scheduledEventResource(state, found.event) };
    });

    app.get<{ Params: { id: string } }>(
      '/scheduled_events/:id/invitees',
      async (request, reply) => {
        const auth = authOf(request);
        if (!hasScope(reply, auth, 'scheduled_events:read')) return reply;
        const event = inviteesEvent(request.params.id, auth.user, reply);
        if (!event) return reply;
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
        const event = inviteesEvent(request.params.id, auth.user, reply);
        if (!event) return reply;
        const invitee = state.invitees.get(`${event.uri}/invitees/${request.params.inviteeId}`);
        if (!invitee) return notFound(reply);
        return { resource: inviteeResource(invitee) };
      },
    );
  };
}
