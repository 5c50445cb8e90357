// Proves the OpenAPI document the typed client is generated from (packages/client/openapi.json)
// is the one the api builds: a route added or changed without `pnpm client:generate` fails
// here. It also holds what the document must say of every /v1 route: the bearer scheme and its
// 401, and a documented body for each answer.
import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { formatDocument, openApiDocument } from '../src/openapi-document.ts';

const committed = new URL('../../../packages/client/openapi.json', import.meta.url);

type Operation = {
  security?: unknown[];
  responses: Record<string, { content?: Record<string, unknown> }>;
};

it('packages/client/openapi.json is the document the api serves (run pnpm client:generate if not)', async () => {
  expect(await readFile(committed, 'utf8')).toBe(formatDocument(await openApiDocument()));
});

it('documents the bearer token, its 401 and a body for every answer of every /v1 route', async () => {
  const document = (await openApiDocument()) as {
    paths: Record<string, Record<string, Operation>>;
  };
  const v1 = Object.entries(document.paths).filter(([path]) => path.startsWith('/v1/'));
  expect(v1.length).toBeGreaterThan(0);
  for (const [path, operations] of v1) {
    for (const [method, operation] of Object.entries(operations)) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(operation.security, where).toEqual([{ bearerAuth: [] }]);
      expect(Object.keys(operation.responses), where).toEqual(
        expect.arrayContaining(['401', '500']),
      );
      expect(
        Object.keys(operation.responses).some((status) => status.startsWith('2')),
        where,
      ).toBe(true);
      for (const [status, response] of Object.entries(operation.responses)) {
        if (status === '204') continue;
        expect(response.content?.['application/json'], `${where} ${status}`).toBeDefined();
      }
    }
  }
});
