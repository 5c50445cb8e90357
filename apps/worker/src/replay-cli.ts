// `pnpm replay [--user ID] [--since ISO] [--event TYPE] [--dry-run]`: re-runs stored inbox
// deliveries through the current code and prints what changed (or, with --dry-run, would).
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '@calhook/config';
import { createDatabase } from '@calhook/db';
import { replayInbox } from '@calhook/meetings';

const usage = 'usage: pnpm replay [--user ID] [--since ISO-8601] [--event TYPE] [--dry-run]';

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

let values: { user?: string; since?: string; event?: string; 'dry-run'?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      user: { type: 'string' },
      since: { type: 'string' },
      event: { type: 'string' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const since = values.since === undefined ? undefined : new Date(values.since);
if (since && Number.isNaN(since.getTime())) fail(`--since: not a date: ${values.since}`);

// Only the database is needed: no role's secrets are required.
const config = loadConfigOrExit(process.env, []);
const database = createDatabase(config.databaseUrl, { max: 2, applicationName: 'calhook-replay' });
try {
  const dryRun = values['dry-run'] ?? false;
  const report = await replayInbox(database.db, {
    userId: values.user,
    since,
    eventType: values.event,
    dryRun,
  });
  const verb = dryRun ? 'would change' : 'changed';
  console.log(
    `${dryRun ? 'dry run: ' : ''}${report.selected} deliveries selected, ${report.replayed} replayed (with the others about the same meetings)`,
  );
  for (const event of report.events) {
    if (!event.outcomeChanged) continue;
    console.log(
      `  inbox ${event.inboxId} ${event.eventType ?? '(unparsed)'}: outcome ${event.outcomeBefore} -> ${event.outcomeAfter}${event.detail ? ` (${event.detail})` : ''}`,
    );
  }
  for (const row of report.rows) {
    const what =
      row.change === 'kept'
        ? 'kept (newer than the inbox, or no delivery describes it)'
        : `${row.change}${row.fields.length > 0 ? `: ${row.fields.join(', ')}` : ''}`;
    console.log(`  ${row.kind} ${row.uri} (connection ${row.connectionId}): ${what}`);
  }
  const written = report.rows.filter((r) => r.change !== 'kept').length;
  const outcomes = report.events.filter((e) => e.outcomeChanged).length;
  console.log(`${verb}: ${written} rows, ${outcomes} inbox outcomes`);
} finally {
  await database.close();
}
