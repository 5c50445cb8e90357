// Calendly's page-token pagination: `{collection, pagination: {count, next_page, ...}}`, where
// next/previous pages are absolute api.calendly.com URLs carrying an opaque `page_token`.
import type { ErrorDetail } from './api-errors.ts';
import { API_ORIGIN } from './ids.ts';

export type Query = Record<string, string | undefined>;

const DEFAULT_COUNT = 20;
const MAX_COUNT = 100;

function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeToken(token: string): number | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'o' in parsed) {
      const offset = parsed.o;
      if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
    }
  } catch {}
  return null;
}

/** Why a `count` parameter is refused, or null: Calendly takes a whole number from 1 to 100. */
function countProblem(raw: string): string | null {
  if (!/^-?\d+$/.test(raw)) return 'must be an integer';
  const value = Number(raw);
  if (value < 1) return 'must be greater than or equal to 1';
  if (value > MAX_COUNT) return `must be less than or equal to ${MAX_COUNT}`;
  return null;
}

export interface PageRequest {
  count: number;
  offset: number;
}

export function parsePageRequest(
  query: Query,
): { ok: true; page: PageRequest } | { ok: false; details: ErrorDetail[] } {
  const details: ErrorDetail[] = [];
  let count = DEFAULT_COUNT;
  if (query.count !== undefined) {
    const problem = countProblem(query.count);
    if (problem) details.push({ parameter: 'count', message: problem });
    else count = Number(query.count);
  }
  let offset = 0;
  if (query.page_token !== undefined && query.page_token !== '') {
    const decoded = decodeToken(query.page_token);
    if (decoded === null) details.push({ parameter: 'page_token', message: 'is invalid' });
    else offset = decoded;
  }
  return details.length > 0 ? { ok: false, details } : { ok: true, page: { count, offset } };
}

function pageUrl(path: string, query: Query, count: number, token: string): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && key !== 'page_token' && key !== 'count') params.set(key, value);
  }
  params.set('count', String(count));
  params.set('page_token', token);
  return `${API_ORIGIN}${path}?${params}`;
}

export function paginate<T>(items: T[], page: PageRequest, path: string, query: Query) {
  const { count, offset } = page;
  const collection = items.slice(offset, offset + count);
  const nextToken = offset + count < items.length ? encodeToken(offset + count) : null;
  const previousToken = offset > 0 ? encodeToken(Math.max(0, offset - count)) : null;
  return {
    collection,
    pagination: {
      count: collection.length,
      next_page: nextToken ? pageUrl(path, query, count, nextToken) : null,
      previous_page: previousToken ? pageUrl(path, query, count, previousToken) : null,
      next_page_token: nextToken,
      previous_page_token: previousToken,
    },
  };
}

/** Fastify's query object, flattened to the single string values Calendly's parameters take. */
export function flatQuery(raw: unknown): Query {
  const query: Query = {};
  if (typeof raw !== 'object' || raw === null) return query;
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === 'string') query[key] = value;
    else if (Array.isArray(value) && typeof value[0] === 'string') query[key] = value[0];
  }
  return query;
}
