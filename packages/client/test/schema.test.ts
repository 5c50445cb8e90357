// Proves the committed client types are what the committed OpenAPI document gives: a route
// schema changed and `pnpm client:generate` not run fails here (the document's own freshness
// against the api is proven in apps/api/test/openapi-document.test.ts and, on a running
// calhook, in apps/all/test/client.int.test.ts).
import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { schemaTypes } from '../src/schema-types.ts';

const read = (path: string) => readFile(new URL(path, import.meta.url), 'utf8');

it('src/schema.ts is generated from openapi.json (run pnpm client:generate if not)', async () => {
  const document: unknown = JSON.parse(await read('../openapi.json'));
  expect(await read('../src/schema.ts')).toBe(await schemaTypes(document));
});
