// The end-of-scenario check every burst shares: each delivery answered 200 is in event_inbox
// exactly once and processed, nothing else is there, and the meetings and invitees of the
// scenario's users are exactly what their histories say.
import { type SeededHook, seedConnectionWithHook, testDatabase, testUrls } from '@calhook/testing';
import postgres from 'postgres';
import { expect } from 'vitest';
import { createSealer } from '../../../packages/crypto/src/index.ts';
import { createHookIds } from '../../../packages/webhooks/src/index.ts';
import { type Answer, type Delivery, interleave, type Target } from './deliver.ts';
import { type History, writeHistory } from './history.ts';
import type { World } from './world.ts';

export interface SeededUser extends SeededHook {
  target: Target;
}

/** Connected users with one live hook each, as a finished connect leaves them. */
export async function seedUsers(world: World, count: number): Promise<SeededUser[]> {
  const database = testDatabase();
  const encryptionKeys = [Buffer.from(world.env.ENCRYPTION_KEY as string, 'base64')];
  const secrets = { sealer: createSealer(encryptionKeys), hookIds: createHookIds(encryptionKeys) };
  try {
    const users: SeededUser[] = [];
    for (let i = 0; i < count; i++) {
      const hook = await seedConnectionWithHook(database.db, secrets, {
        publicUrl: world.receiverUrl,
      });
      users.push({
        ...hook,
        target: {
          connectionId: hook.connectionId,
          url: `${world.receiverUrl}/webhooks/calendly/${hook.hookId}`,
          signingKey: hook.signingKey,
        },
      });
    }
    return users;
  } finally {
    await database.close();
  }
}

export function deliveriesOf(user: SeededUser, bodies: string[]): Delivery[] {
  return bodies.map((body) => ({ target: user.target, body }));
}

/** The cast of a burst scenario and what it sends. */
export interface Burst {
  /** A connected user who is sent nothing: their rows must stay untouched. */
  bystander: SeededUser;
  users: SeededUser[];
  histories: Map<SeededUser, History>;
  /** Every user's history, interleaved into one burst of `events` deliveries. */
  deliveries: Delivery[];
}

export async function seedBurst(world: World, userCount: number, events: number): Promise<Burst> {
  const [bystander, ...users] = (await seedUsers(world, userCount + 1)) as [
    SeededUser,
    ...SeededUser[],
  ];
  const histories = new Map<SeededUser, History>(
    users.map((user) => [user, writeHistory(user.calendlyUserUri, events / userCount)]),
  );
  const deliveries = interleave(users.map((u) => deliveriesOf(u, histories.get(u)?.bodies ?? [])));
  return { bystander, users, histories, deliveries };
}

export function openSql(): postgres.Sql {
  return postgres(testUrls().databaseUrl, { max: 2, onnotice: () => {} });
}

const key = (connectionId: string, body: string) => `${connectionId}\n${body}`;

/** Every delivery's last answer, by connection and body. */
export function finalAnswers(answers: Answer[]): Map<string, number> {
  const last = new Map<string, number>();
  for (const answer of answers) last.set(key(answer.connectionId, answer.body), answer.status);
  return last;
}

interface InboxRow {
  connection_id: string;
  body: string;
  copies: number;
  processed: boolean;
  outcome: string;
}

async function inboxOf(sql: postgres.Sql, connectionIds: string[]): Promise<InboxRow[]> {
  return sql<InboxRow[]>`
    select connection_id, body, count(*)::int as copies,
           bool_and(processed_at is not null) as processed, min(outcome) as outcome
    from event_inbox where connection_id = any(${connectionIds}::uuid[])
    group by connection_id, body`;
}

/**
 * Waits until the worker has processed as many inbox rows as there were 200s (or the timeout
 * passes), then asserts the inbox of these users holds exactly the acknowledged deliveries,
 * once each, every one processed with one of `outcomes`.
 */
export async function expectInboxMatches(
  sql: postgres.Sql,
  users: SeededUser[],
  answers: Answer[],
  options: { timeoutMs?: number; outcomes?: string[] } = {},
): Promise<void> {
  const acked = new Set(
    answers.filter((a) => a.status === 200).map((a) => key(a.connectionId, a.body)),
  );
  const ids = users.map((u) => u.connectionId);
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let rows = await inboxOf(sql, ids);
  for (;;) {
    const processed = rows.filter((r) => r.processed).length;
    if (processed === rows.length && rows.length >= acked.size) break;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
    rows = await inboxOf(sql, ids);
  }
  const stored = new Set(rows.map((r) => key(r.connection_id, r.body)));
  const lost = [...acked].filter((k) => !stored.has(k));
  const extra = [...stored].filter((k) => !acked.has(k));
  expect({ lost: lost.length, extra: extra.length }, 'acknowledged vs stored deliveries').toEqual({
    lost: 0,
    extra: 0,
  });
  expect(rows.filter((r) => r.copies !== 1)).toEqual([]);
  expect(rows.filter((r) => !r.processed).length, 'inbox rows left unprocessed').toBe(0);
  const outcomes = options.outcomes ?? ['applied', 'stale'];
  expect(rows.filter((r) => !outcomes.includes(r.outcome)).map((r) => r.outcome)).toEqual([]);
}

interface MeetingRow {
  calendly_event_uri: string;
  status: string;
}
interface InviteeRow {
  calendly_invitee_uri: string;
  calendly_event_uri: string;
  status: string;
  no_show: boolean;
  rescheduled: boolean;
  old_invitee_uri: string | null;
  new_invitee_uri: string | null;
}

/** The user's meetings and invitees, as plain comparable values. */
export async function rowsOf(sql: postgres.Sql, connectionId: string) {
  const meetings = await sql<MeetingRow[]>`
    select calendly_event_uri, status from meetings where connection_id = ${connectionId}`;
  const invitees = await sql<InviteeRow[]>`
    select calendly_invitee_uri, calendly_event_uri, status, no_show, rescheduled,
           old_invitee_uri, new_invitee_uri
    from invitees where connection_id = ${connectionId}`;
  return {
    meetings: new Map(meetings.map((m) => [m.calendly_event_uri, m.status])),
    invitees: new Map(
      invitees.map((i) => [
        i.calendly_invitee_uri,
        {
          event: i.calendly_event_uri,
          status: i.status,
          noShow: i.no_show,
          rescheduled: i.rescheduled,
          oldInvitee: i.old_invitee_uri,
          newInvitee: i.new_invitee_uri,
        },
      ]),
    ),
  };
}

/** The user's rows are exactly the history's outcome: no meeting missing, none extra. */
export async function expectRowsMatch(
  sql: postgres.Sql,
  user: SeededUser,
  history: History,
): Promise<void> {
  const rows = await rowsOf(sql, user.connectionId);
  expect(rows.meetings).toEqual(history.meetings);
  expect(rows.invitees).toEqual(history.invitees);
}

/** Nothing outside the scenario's deliveries changed: connections still active, a bystander untouched. */
export async function expectBystanderUntouched(
  sql: postgres.Sql,
  users: SeededUser[],
  bystander: SeededUser,
): Promise<void> {
  const ids = users.map((u) => u.connectionId);
  const statuses = await sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from connections where id = any(${ids}::uuid[]) group by status`;
  expect(statuses).toEqual([{ status: 'active', n: users.length }]);
  const [touched] = await sql<{ inbox: number; meetings: number; invitees: number }[]>`
    select (select count(*)::int from event_inbox where connection_id = ${bystander.connectionId}) as inbox,
           (select count(*)::int from meetings where connection_id = ${bystander.connectionId}) as meetings,
           (select count(*)::int from invitees where connection_id = ${bystander.connectionId}) as invitees`;
  expect(touched).toEqual({ inbox: 0, meetings: 0, invitees: 0 });
}

/**
 * The end of every burst scenario: each delivery answered 200 is in the inbox exactly once,
 * every user's rows are what their history says, and the bystander's are untouched.
 */
export async function expectBurstLanded(
  sql: postgres.Sql,
  burst: Burst,
  answers: Answer[],
  options: { timeoutMs: number },
): Promise<void> {
  await expectInboxMatches(sql, burst.users, answers, options);
  for (const [user, history] of burst.histories) await expectRowsMatch(sql, user, history);
  await expectBystanderUntouched(sql, burst.users, burst.bystander);
}
