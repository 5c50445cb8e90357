export { buildReceiverApp, type ReceiverDeps } from './app.ts';
export { type RunningReceiver, startReceiver } from './role.ts';
export { MAX_BODY_BYTES, MAX_BODY_TEXT } from './routes/webhooks.ts';
