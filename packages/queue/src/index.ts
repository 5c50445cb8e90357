export {
  type JobName,
  type JobPayload,
  jobCatalog,
  type QueuedDelivery,
  type QueueName,
  queueNames,
} from './catalog.ts';
export { createQueues, type Queues } from './queues.ts';
export { createProducerRedis, createWorkerRedis } from './redis.ts';
export {
  createWorkers,
  type JobContext,
  type JobMetricsSink,
  type JobRunOutcome,
  PermanentJobError,
  type Processor,
  type ProcessorMap,
  RetryLaterError,
  type Workers,
  type WorkersOptions,
} from './workers.ts';
