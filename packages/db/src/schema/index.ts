export * from './app-webhooks.ts';
export * from './changes.ts';
export * from './connections.ts';
export * from './event-inbox.ts';
export * from './meetings.ts';
export * from './oauth-states.ts';
export * from './user-locks.ts';
export * from './webhook-hooks.ts';
