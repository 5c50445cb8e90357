// `pnpm reconcile [userId]`: reconcile (and backfill) one user now, or every active connection.
// Enqueues the same jobs the schedule does; a running worker carries them out.
import { loadConfigOrExit } from '@calhook/config';
import { requestReconcile, requestReconcileAll } from '@calhook/connections';
import { connectionRepo, createDatabase } from '@calhook/db';
import { createProducerRedis, createQueues } from '@calhook/queue';

const config = loadConfigOrExit(process.env, []);
const userId = process.argv[2];
const redis = createProducerRedis(config.redis);
const queues = createQueues(redis, config.queuePrefix, { shards: config.queueShards });
const database = createDatabase(config.databaseUrl, { max: 1 });
let code = 0;
try {
  if (userId) {
    const deps = { db: database.db, queues, now: () => new Date() };
    const queued = await requestReconcile(deps, userId, 'command');
    const row = await connectionRepo.findByUser(database.db, userId);
    if (!queued || !row) {
      console.error(`calhook: no connection for user ${userId}`);
      code = 1;
    } else {
      console.log(
        `calhook: reconcile of ${userId} queued as job ${queued.jobId} (status ${row.status})`,
      );
    }
  } else {
    const queued = await requestReconcileAll({ db: database.db, queues, now: () => new Date() });
    console.log(
      `calhook: reconcile and backfill of ${queued.connections} active connections queued as job ${queued.jobId}`,
    );
  }
} finally {
  await queues.close();
  redis.disconnect();
  await database.close();
}
process.exit(code);
