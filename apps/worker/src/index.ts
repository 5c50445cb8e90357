export { createWorkerPool, type WorkerPool } from './pool.ts';
export { buildProcessors, type ProcessorDeps } from './processors/index.ts';
export { type RunningWorker, startWorker, type WorkerOptions } from './role.ts';
