export { type JobName, type JobPayload, jobCatalog, type QueueName, queueNames } from './catalog.ts';
export { createQueues, type Queues } from './queues.ts';
export { createProducerRedis, createWorkerRedis } from './redis.ts';
