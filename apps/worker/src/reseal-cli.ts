// `pnpm reseal [--check]`: re-seals every secret stored at rest (tokens, hook signing keys,
// pending OAuth codes and verifiers, app webhook endpoint secrets) with the current ENCRYPTION_KEY and the current format,
// which binds each to its purpose and row. Run it after upgrading and after rotating the key;
// once `--check` reports nothing left, an old key can leave ENCRYPTION_KEYS_PREVIOUS.
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '@calhook/config';
import { createSealer, SealError } from '@calhook/crypto';
import {
  connectionRepo,
  createDatabase,
  endpointRepo,
  hookRepo,
  oauthStateRepo,
  type Reseal,
  type ResealCounts,
} from '@calhook/db';

const usage = 'usage: pnpm reseal [--check]';
let check = false;
try {
  const { values } = parseArgs({ options: { check: { type: 'boolean' } }, strict: true });
  check = values.check ?? false;
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}

const config = loadConfigOrExit(process.env, ['worker']);
const sealer = createSealer(config.encryptionKeys);
const database = createDatabase(config.databaseUrl, { max: 1, applicationName: 'calhook-reseal' });
const unreadable: string[] = [];
// With --check nothing is written: every value that is not current is only counted.
const reseal: Reseal = (sealed, context) => {
  if (sealer.isCurrent(sealed)) return null;
  try {
    const plaintext = sealer.open(sealed, context);
    return check ? null : sealer.seal(plaintext, context);
  } catch (error) {
    if (!(error instanceof SealError)) throw error;
    unreadable.push(`${context.purpose} of ${context.id}: ${error.message}`);
    return null;
  } finally {
    if (check) pending[context.purpose] = (pending[context.purpose] ?? 0) + 1;
  }
};
const pending: ResealCounts = {};

let code = 0;
try {
  const counts: ResealCounts = {
    ...(await connectionRepo.resealTokens(database.db, reseal)),
    ...(await hookRepo.resealSigningKeys(database.db, reseal)),
    ...(await oauthStateRepo.resealSecrets(database.db, reseal, new Date())),
    ...(await endpointRepo.resealSecrets(database.db, reseal)),
  };
  const report = check ? pending : counts;
  const total = Object.values(report).reduce((a, b) => a + b, 0);
  const detail = Object.entries(report)
    .map(([column, n]) => `${column} ${n}`)
    .join(', ');
  console.log(
    check
      ? `calhook: ${total} sealed values are not current (${detail || 'none'})`
      : `calhook: re-sealed ${total} values with key ${sealer.keyId} (${detail})`,
  );
  for (const line of unreadable) console.error(`calhook: cannot open ${line}`);
  if (unreadable.length > 0) code = 1;
} finally {
  await database.close();
}
process.exit(code);
