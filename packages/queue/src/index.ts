export {
  catalogEntry,
  type JobName,
  type JobPayload,
  jobCatalog,
  jobKey,
  jobOptions,
  type QueuedDelivery,
  type QueueName,
  queueNames,
} from './catalog.ts';
export { createQueues, type EnqueueOptions, type Queues, type ScheduledJobName } from './queues.ts';
export { createProducerRedis, createWorkerRedis } from './redis.ts';
export {
  type ClassifyJobError,
  createWorkers,
  defaultClassification,
  type JobContext,
  type JobFailure,
  type JobMetricsSink,
  type JobRunOutcome,
  PermanentJobError,
  type Processor,
  type ProcessorMap,
  type Workers,
  type WorkersOptions,
} from './workers.ts';
