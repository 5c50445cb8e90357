// Proves a transaction whose connection is cut stays dead on real Postgres: the work still
// running in it (its callback goes on after the transaction failed) cannot write through the
// pool's reconnected socket, where it would commit outside any transaction, or inside another
// caller's. postgres.js 3.4.9 let it (porsager/postgres#1216); calhook's patch of it fails it.
import { testUrls, uniqueId } from '@calhook/testing';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { expect, it } from 'vitest';
import { createDatabase } from './client.ts';

it('a query issued in a transaction after its connection was cut fails and writes nothing', async () => {
  const handle = createDatabase(testUrls().databaseUrl, { max: 1 });
  const admin = postgres(testUrls().databaseUrl, { max: 1, onnotice: () => {} });
  const table = uniqueId('cut_tx_');
  await admin.unsafe(`create table ${table} (mark text not null)`);
  try {
    let late: unknown = 'not run';
    const outcome = await handle.db
      .transaction(async (tx) => {
        await tx.execute(sql`insert into ${sql.identifier(table)} values ('before the cut')`);
        const [row] = await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`);
        await admin`select pg_terminate_backend(${row?.pid ?? 0})`;
        await new Promise((resolve) => setTimeout(resolve, 200));
        // Someone else's query makes the pool reconnect the same connection meanwhile.
        await handle.db.execute(sql`select 1`);
        late = await tx
          .execute(sql`insert into ${sql.identifier(table)} values ('after the cut')`)
          .then(
            () => 'written',
            (error: unknown) => (error as { cause?: { code?: string } }).cause?.code ?? error,
          );
      })
      .then(
        () => 'committed',
        () => 'failed',
      );
    // The callback may still be running when the transaction reports its failure.
    for (let i = 0; i < 100 && late === 'not run'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    expect(outcome).toBe('failed');
    expect(late).toBe('CONNECTION_CLOSED');
    const rows = await admin.unsafe(`select mark from ${table}`);
    expect(rows.map((r) => r.mark)).toEqual([]);
    // The pool itself recovered: a fresh query runs.
    expect(await handle.db.execute(sql`select 1 as one`)).toEqual([{ one: 1 }]);
  } finally {
    await admin.unsafe(`drop table if exists ${table}`);
    await admin.end({ timeout: 5 });
    await handle.close();
  }
});
