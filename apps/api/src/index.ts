export { ANSWER_OFF_SCHEMA, type ApiDeps, buildApiApp } from './app.ts';
export { type RunningApi, startApi } from './role.ts';
