// How an error is written to the log. pino's own serializer copies every enumerable field and
// the cause's message, which for a failed database query means its bound parameters: drizzle's
// DrizzleQueryError carries them in `params` and in its message ("Failed query: …\nparams: …"),
// and postgres.js puts them on its error as `parameters`/`args` in debug mode. Those parameters
// are raw delivery bodies and meeting rows (invitee names and emails), which logs must not hold.

/** Fields holding a query's bound values; replaced by their count wherever an error has them. */
const RAW_PARAMETER_KEYS = new Set(['params', 'parameters', 'args', 'bindings']);

/** SQL longer than this is cut: the statement's start names the table, the rest is columns. */
export const QUERY_TEXT_LIMIT = 500;

type ErrorLike = Error & Record<string, unknown>;

const isErrorLike = (value: unknown): value is ErrorLike =>
  typeof value === 'object' && value !== null && typeof (value as Error).message === 'string';

function trimQuery(query: string): string {
  if (query.length <= QUERY_TEXT_LIMIT) return query;
  return `${query.slice(0, QUERY_TEXT_LIMIT)}… [${query.length - QUERY_TEXT_LIMIT} more chars]`;
}

function withheld(value: unknown): string {
  return Array.isArray(value) ? `[${value.length} values withheld]` : '[withheld]';
}

/** The error's own message with bound parameters taken out and long SQL cut. */
function ownMessage(error: ErrorLike): string {
  const { message } = error;
  const at = message.indexOf('\nparams: ');
  const query = typeof error.query === 'string' ? error.query : undefined;
  if (at === -1 && (query === undefined || query.length <= QUERY_TEXT_LIMIT)) return message;
  const params = Object.keys(error).find((key) => RAW_PARAMETER_KEYS.has(key));
  const tail = at === -1 ? '' : `\nparams: ${withheld(params && error[params])}`;
  // Drizzle writes `Failed query: ${query}\nparams: ${params}`; split on the known query when
  // it is there, so a query text containing "\nparams: " cannot move the cut.
  const prefix = 'Failed query: ';
  if (query !== undefined && message.startsWith(`${prefix}${query}`)) {
    return `${prefix}${trimQuery(query)}${tail}`;
  }
  return `${message.slice(0, at === -1 ? message.length : at)}${tail}`;
}

function ownStack(error: ErrorLike, message: string): string {
  const stack = typeof error.stack === 'string' ? error.stack : '';
  return message === error.message ? stack : stack.replace(error.message, () => message);
}

/** The error and its causes, outermost first; a cycle ends the chain. */
function causeChain(error: ErrorLike): ErrorLike[] {
  const chain: ErrorLike[] = [];
  for (let e: unknown = error; isErrorLike(e) && !chain.includes(e); e = e.cause) chain.push(e);
  return chain;
}

/**
 * A plain object for `error`, shaped like pino's (`type`, `message` and `stack` with the
 * causes', then the error's own fields) but with bound query parameters withheld and long SQL
 * cut, on the error and on every cause. Nested values are left for the caller to walk.
 */
export function serializeError(error: Error): Record<string, unknown> {
  const chain = causeChain(error as ErrorLike);
  const messages = chain.map(ownMessage);
  const out: Record<string, unknown> = {
    type: typeof error.constructor === 'function' ? error.constructor.name : error.name,
    message: messages.join(': '),
    stack: chain.map((e, i) => ownStack(e, messages[i] ?? e.message)).join('\ncaused by: '),
  };
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors)) out.aggregateErrors = errors;
  for (const key in error) {
    if (key in out || (key === 'errors' && out.aggregateErrors)) continue;
    const value = (error as ErrorLike)[key];
    // The cause is already in the message and stack above.
    if (key === 'cause' && isErrorLike(value)) continue;
    if (RAW_PARAMETER_KEYS.has(key)) out[key] = withheld(value);
    else if (key === 'query' && typeof value === 'string') out[key] = trimQuery(value);
    else out[key] = value;
  }
  return out;
}

/**
 * An error safe to hand to a store that keeps its message and stack (BullMQ writes them to
 * Redis as a failed job's reason, and Bull Board shows them): the same name, message and
 * stack as `serializeError` gives, without the fields. The original error is returned when
 * nothing in it needed withholding.
 */
export function withheldError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { message, stack } = serializeError(error) as { message: string; stack: string };
  if (message === error.message && stack === error.stack) return error;
  const safe = new Error(message);
  safe.name = error.name;
  safe.stack = stack;
  return safe;
}
