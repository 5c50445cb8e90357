// The webhook endpoints API's operations (API.md "Changes"): create with a new secret, read
// without it, reveal it, rotate it, delete, page the delivery log, ask for a replay. Expected
// outcomes are data: `{ ok: false, ... }` names the field or says what is missing.
import { randomBytes } from 'node:crypto';
import type { Sealer } from '@calhook/crypto';
import {
  type ChangeType,
  changeRepo,
  changeTypes,
  type Database,
  deliveryRepo,
  endpointRepo,
  type WebhookEndpointRow,
} from '@calhook/db';
import type { Queues } from '@calhook/queue';
import { checkEndpointUrl, type Lookup } from './address-guard.ts';
import { newSecret } from './signature.ts';

/** How long the previous secret keeps signing after a rotation (API.md: 24 h). */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

export interface EndpointView {
  id: string;
  url: string;
  types: ChangeType[];
  description: string | null;
  status: 'active' | 'failing' | 'disabled';
  createdAt: string;
}

export interface DeliveryView {
  changeId: string;
  attempt: number;
  status: number | 'error';
  error?: string;
  at: string;
  durationMs: number;
}

export type Refusal =
  | { ok: false; error: 'not_found' }
  | { ok: false; error: 'invalid_request'; field: string; message: string }
  | { ok: false; error: 'cursor_expired'; message: string; oldestCursor: string };

export function endpointView(row: WebhookEndpointRow): EndpointView {
  return {
    id: row.id,
    url: row.url,
    // Stored null means every type, including ones added later; shown as today's full list.
    types: (row.types ?? [...changeTypes]) as ChangeType[],
    description: row.description,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
  };
}

const notFound = { ok: false, error: 'not_found' } as const;
const invalid = (field: string, message: string) =>
  ({ ok: false, error: 'invalid_request', field, message }) as const;

export interface EndpointServiceDeps {
  db: Database;
  sealer: Sealer;
  queues: Queues;
  /** WEBHOOK_ENDPOINTS_ALLOW_PRIVATE: http and private addresses allowed. */
  allowPrivate: boolean;
  lookup?: Lookup;
  now?: () => Date;
}

export function createEndpointService(deps: EndpointServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const sealFor = (id: string, secret: string) =>
    deps.sealer.seal(secret, { purpose: 'endpoint_secret', id });

  return {
    async create(input: {
      url: string;
      types?: string[] | undefined;
      description?: string | undefined;
    }): Promise<{ ok: true; endpoint: EndpointView & { secret: string } } | Refusal> {
      const checked = await checkEndpointUrl(input.url, {
        allowPrivate: deps.allowPrivate,
        ...(deps.lookup ? { lookup: deps.lookup } : {}),
      });
      if (!checked.ok) return invalid('body.url', checked.message);
      if (input.types !== undefined) {
        const unknown = input.types.find((t) => !(changeTypes as readonly string[]).includes(t));
        if (unknown !== undefined) {
          return invalid('body.types', `unknown change type ${JSON.stringify(unknown)}`);
        }
        if (input.types.length === 0) return invalid('body.types', 'must name at least one type');
      }
      const id = `we_${randomBytes(12).toString('hex')}`;
      const secret = newSecret();
      const row = await endpointRepo.create(deps.db, {
        id,
        url: checked.url.toString(),
        types: input.types ? [...new Set(input.types)] : null,
        description: input.description ?? null,
        secretEnc: sealFor(id, secret),
        cursor: changeRepo.encodeCursor(await changeRepo.head(deps.db)),
      });
      return { ok: true, endpoint: { ...endpointView(row), secret } };
    },

    async list(): Promise<EndpointView[]> {
      return (await endpointRepo.list(deps.db)).map(endpointView);
    },

    async get(id: string): Promise<{ ok: true; endpoint: EndpointView } | Refusal> {
      const row = await endpointRepo.findById(deps.db, id);
      return row ? { ok: true, endpoint: endpointView(row) } : notFound;
    },

    async secret(id: string): Promise<{ ok: true; secret: string } | Refusal> {
      const row = await endpointRepo.findById(deps.db, id);
      if (!row) return notFound;
      return {
        ok: true,
        secret: deps.sealer.open(row.secretEnc, { purpose: 'endpoint_secret', id }),
      };
    },

    async remove(id: string): Promise<{ ok: true } | Refusal> {
      return (await endpointRepo.remove(deps.db, id)) ? { ok: true } : notFound;
    },

    async rotate(id: string): Promise<{ ok: true; secret: string } | Refusal> {
      const secret = newSecret();
      const row = await endpointRepo.rotateSecret(
        deps.db,
        id,
        sealFor(id, secret),
        new Date(now().getTime() + ROTATION_OVERLAP_MS),
      );
      return row ? { ok: true, secret } : notFound;
    },

    async deliveries(
      id: string,
      options: { limit: number; cursor?: string | undefined },
    ): Promise<{ ok: true; deliveries: DeliveryView[]; nextCursor: string | null } | Refusal> {
      let before: { at: Date; id: number } | undefined;
      if (options.cursor !== undefined) {
        const decoded = deliveryRepo.decodeCursor(options.cursor);
        if (decoded === null) return invalid('querystring.cursor', 'not a cursor calhook issued');
        before = decoded;
      }
      if (!(await endpointRepo.findById(deps.db, id))) return notFound;
      const page = await deliveryRepo.page(deps.db, id, { before, limit: options.limit });
      return {
        ok: true,
        deliveries: page.rows.map((row) => ({
          changeId: row.changeId,
          attempt: row.attempt,
          status: row.status ?? 'error',
          ...(row.error !== null && row.status === null ? { error: row.error } : {}),
          at: row.at.toISOString(),
          durationMs: row.durationMs,
        })),
        nextCursor: page.next,
      };
    },

    async replay(id: string, after: string): Promise<{ ok: true } | Refusal> {
      const position = changeRepo.decodeCursor(after);
      if (!position) return invalid('body.after', 'not a cursor calhook issued');
      if (!(await endpointRepo.findById(deps.db, id))) return notFound;
      const oldest = await changeRepo.prunedThrough(deps.db);
      if (changeRepo.isBefore(position, oldest)) {
        return {
          ok: false,
          error: 'cursor_expired',
          message: 'the changes after this cursor are older than CHANGES_RETENTION',
          oldestCursor: changeRepo.encodeCursor(oldest),
        };
      }
      await deps.queues.enqueue('replay-webhooks', {
        endpointId: id,
        after,
        replayId: `r${randomBytes(6).toString('hex')}`,
      });
      return { ok: true };
    },
  };
}

export type EndpointService = ReturnType<typeof createEndpointService>;
