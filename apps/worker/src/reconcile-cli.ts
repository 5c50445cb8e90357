// `pnpm reconcile [userId]`: reconcile (and backfill) one user now, or every active connection.
// Enqueues the same jobs the schedule does; a running worker carries them out.
import { loadConfigOrExit } from '@calhook/config';
import { connections, createDatabase } from '@calhook/db';
import { createProducerRedis, createQueues } from '@calhook/queue';
import { eq } from 'drizzle-orm';

const config = loadConfigOrExit(process.env, []);
const userId = process.argv[2];
const redis = createProducerRedis(config.redisUrl);
const queues = createQueues(redis, config.queuePrefix);
const database = createDatabase(config.databaseUrl, { max: 1 });
let code = 0;
try {
  if (userId) {
    const [row] = await database.db
      .select()
      .from(connections)
      .where(eq(connections.userId, userId))
      .limit(1);
    if (!row) {
      console.error(`calhook: no connection for user ${userId}`);
      code = 1;
    } else {
      const job = await queues.enqueue(
        'reconcile-connection',
        { connectionId: row.id, reason: 'command' },
        { jobId: `reconcile-${row.id}-command-${Date.now()}` },
      );
      console.log(`calhook: reconcile of ${userId} queued as job ${job.id} (status ${row.status})`);
    }
  } else {
    const job = await queues.enqueue(
      'reconcile-all',
      {},
      { jobId: `reconcile-all-command-${Date.now()}` },
    );
    console.log(`calhook: reconcile of every active connection queued as job ${job.id}`);
  }
} finally {
  await queues.close();
  redis.disconnect();
  await database.close();
}
process.exit(code);
