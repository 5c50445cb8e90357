export * from './connections.ts';
export * from './event-inbox.ts';
export * from './meetings.ts';
export * from './webhook-hooks.ts';
