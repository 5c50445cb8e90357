// The API's Meeting (API.md), rendered by Postgres: the one definition both the meetings read
// API and the change feed's snapshots use, so a change's `data` is exactly what the API shows.
import { type SQL, sql } from 'drizzle-orm';

/** ISO 8601 in UTC with milliseconds, as JavaScript's toISOString writes it; null stays null. */
const iso = (column: SQL) =>
  sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * A jsonb expression of the Meeting whose `meetings` row is aliased `m`, with its invitees in
 * the order they were first filed.
 */
export function meetingJson(m: SQL = sql.raw('m')): SQL {
  const col = (name: string) => sql`${m}.${sql.raw(name)}`;
  return sql`jsonb_build_object(
    'id', ${col('id')},
    'calendlyEventUri', ${col('calendly_event_uri')},
    'name', ${col('name')},
    'status', ${col('status')},
    'startTime', ${iso(col('start_time'))},
    'endTime', ${iso(col('end_time'))},
    'location', ${col('location')},
    'eventTypeUri', ${col('event_type_uri')},
    'canceledAt', ${iso(col('canceled_at'))},
    'cancelReason', ${col('cancel_reason')},
    'updatedAt', ${iso(col('updated_at'))},
    'version', ${col('version')},
    'invitees', coalesce((
      select jsonb_agg(jsonb_build_object(
        'uri', i.calendly_invitee_uri,
        'email', i.email,
        'name', i.name,
        'status', i.status,
        'noShow', i.no_show,
        'rescheduled', i.rescheduled,
        'oldInviteeUri', i.old_invitee_uri,
        'newInviteeUri', i.new_invitee_uri,
        'canceledBy', i.canceled_by,
        'cancelReason', i.cancel_reason,
        'questionsAndAnswers', case when jsonb_typeof(i.questions_and_answers) = 'array'
          then i.questions_and_answers else '[]'::jsonb end
      ) order by i.created_at, i.calendly_invitee_uri)
      from invitees i where i.meeting_id = ${col('id')}
    ), '[]'::jsonb)
  )`;
}
