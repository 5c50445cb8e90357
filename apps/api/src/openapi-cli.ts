// `node apps/api/src/openapi-cli.ts <file>`: writes the api's OpenAPI document to <file>.
import { writeFile } from 'node:fs/promises';
import { formatDocument, openApiDocument } from './openapi-document.ts';

const out = process.argv[2];
if (!out) {
  console.error('usage: node apps/api/src/openapi-cli.ts <file.json>');
  process.exit(2);
}
await writeFile(out, formatDocument(await openApiDocument()));
console.log(`wrote ${out}`);
