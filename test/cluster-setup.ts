// Gives the `cluster` project a Redis Cluster of its own: 3 masters started on free ports and
// joined by `redis-cli --cluster create`. Tests reach it through REDIS_CLUSTER_NODES naming one
// seed, a master that owns none of the queues' slots (the queues' empty slots are handed to
// the other masters first), so every queue command starts with a MOVED redirection: calhook
// works only if it follows the Cluster rather than the node it was pointed at. The nodes ask for
// a password, given in the seed URL only: it must reach every node calhook discovers.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { allQueueNames } from '../packages/queue/src/index.ts';
import { startRedisCluster } from '../packages/testing/src/redis-cluster.ts';

/** Shards the cluster tests run with at most; their queues' slots are kept off the seed. */
const SHARDS = 3;

export default async function setup(project: TestProject) {
  const cluster = await startRedisCluster({
    masters: 3,
    password: randomBytes(12).toString('base64url'),
  });
  const masters = await cluster.masters();
  const slots = await Promise.all(allQueueNames(SHARDS).map((name) => cluster.slotOf(`{${name}}`)));
  const owned = new Map(masters.map((m) => [m, [] as number[]]));
  for (const slot of slots) owned.get(await cluster.masterOf(slot))?.push(slot);
  const [seed, ...others] = [...owned].sort((a, b) => a[1].length - b[1].length);
  if (!seed || others.length === 0) throw new Error('the test cluster needs two masters or more');
  for (const [i, slot] of seed[1].entries()) {
    await cluster.moveSlot(slot, (others[i % others.length] as (typeof others)[number])[0]);
  }
  for (const slot of slots) {
    if ((await cluster.masterOf(slot)).id === seed[0].id) {
      throw new Error(`slot ${slot} is still on the seed node`);
    }
  }
  project.provide('redisClusterNodes', cluster.seeds(seed[0]));
  return () => cluster.stop();
}
