// `node packages/client/src/generate-cli.ts`: packages/client/openapi.json → src/schema.ts.
// Run through `pnpm client:generate`, which writes the document first.
import { readFile, writeFile } from 'node:fs/promises';
import { schemaTypes } from './schema-types.ts';

const documentFile = new URL('../openapi.json', import.meta.url);
const typesFile = new URL('./schema.ts', import.meta.url);
const document: unknown = JSON.parse(await readFile(documentFile, 'utf8'));
await writeFile(typesFile, await schemaTypes(document));
console.log(`wrote ${typesFile.pathname}`);
