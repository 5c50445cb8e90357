// An ingest batch reads the rows it may touch through the natural-key indexes, so its cost does
// not grow with the tables. Filtered one column at a time ("connection is any of these 200 and
// URI is any of those 200") the planner took a fifth of the table as a match and scanned all
// of it on every batch: the worker slowed as meetings accumulated. This checks the plans
// Postgres picks for the real statements over a realistically filled table; everything it
// writes is rolled back.
import { createDatabase, type DatabaseHandle, meetings } from '@calhook/db';
import { testUrls, uniqueId } from '@calhook/testing';
import { and, getTableName } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { anyOf } from './bulk-sql.ts';
import { inviteesByKeysQuery, meetingsByKeysQuery } from './meeting-store.ts';

const CONNECTIONS = 1_000;
const PER_CONNECTION = 40;
const BATCH = 200;

let handle: DatabaseHandle;
beforeAll(() => {
  handle = createDatabase(testUrls().databaseUrl, { max: 2, applicationName: 'calhook-test' });
});
afterAll(async () => {
  await handle.close();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode): string[] {
  const own = node['Node Type'] === 'Seq Scan' ? [node['Relation Name'] ?? '?'] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}

class Rollback extends Error {}

it('reads a batch of stored meetings and invitees by index, not by scanning the tables', async () => {
  const tag = uniqueId('plan');
  const scanned: Record<string, string[]> = {};
  await handle.sql
    .begin(async (tx) => {
      // 1,000 connections with 40 meetings and 40 invitees each; every other invitee was
      // rescheduled from another, so the link indexes have rows too.
      const ids = (
        await tx<{ id: string }[]>`
          insert into connections (user_id, calendly_user_uri)
          select ${tag} || '-' || n, 'https://api.calendly.com/users/' || ${tag} || n
          from generate_series(1, ${CONNECTIONS}) as n
          returning id`
      ).map((row) => row.id);
      await tx`
        insert into meetings (connection_id, calendly_event_uri, status, source_updated_at)
        select c, 'https://api.calendly.com/scheduled_events/' || c || '-' || n, 'active', now()
        from unnest(${ids}::uuid[]) as c, generate_series(1, ${PER_CONNECTION}) as n`;
      await tx`
        insert into invitees (connection_id, meeting_id, calendly_invitee_uri, calendly_event_uri,
                              status, source_updated_at, old_invitee_uri)
        select m.connection_id, m.id, m.calendly_event_uri || '/invitees/1', m.calendly_event_uri,
               'active', now(),
               case when random() < 0.5 then m.calendly_event_uri || '/invitees/0' end
        from meetings m where m.connection_id = any(${ids}::uuid[])`;
      await tx`analyze meetings`;
      await tx`analyze invitees`;

      // A drain's batch: 200 deliveries of 200 connections, half about stored meetings.
      const eventUri = (c: string, n: number) =>
        `https://api.calendly.com/scheduled_events/${c}-${n}`;
      const batch = ids
        .slice(0, BATCH)
        .map((c, i): [string, string] => [c, eventUri(c, i % 2 === 0 ? 1 : PER_CONNECTION + 1)]);
      const named = batch.map(([c, uri]): [string, string] => [c, `${uri}/invitees/1`]);
      const plan = async (query: { toSQL(): { sql: string; params: unknown[] } }) => {
        const { sql, params } = query.toSQL();
        const [row] = await tx.unsafe(`explain (format json) ${sql}`, params as never[]);
        return seqScans(
          (row as unknown as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan,
        );
      };
      scanned.meetings = await plan(meetingsByKeysQuery(handle.db, batch));
      scanned.invitees = await plan(inviteesByKeysQuery(handle.db, named, named));
      // The control: the same batch filtered per column is planned as a scan of the table, so
      // the table above is large enough for the plan to matter.
      scanned.perColumn = await plan(
        handle.db
          .select()
          .from(meetings)
          .where(
            and(
              anyOf(
                meetings.connectionId,
                batch.map(([c]) => c),
              ),
              anyOf(
                meetings.calendlyEventUri,
                batch.map(([, uri]) => uri),
              ),
            ),
          ),
      );
      throw new Rollback();
    })
    .catch((error: unknown) => {
      if (!(error instanceof Rollback)) throw error;
    });

  expect(scanned.perColumn).toContain(getTableName(meetings));
  expect(scanned.meetings).toEqual([]);
  expect(scanned.invitees).toEqual([]);
});
