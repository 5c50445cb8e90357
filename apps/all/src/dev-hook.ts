// `pnpm dev:hook [userId] [calendlyUserUri]`: registers a connection and a hook directly in the
// database, with no Calendly account, and prints what a signed curl delivery needs. For
// trying calhook locally; real connections come from PUT /v1/connections/:userId.
import { randomBytes } from 'node:crypto';
import { MEETING_EVENTS } from '@calhook/calendly';
import { loadConfigOrExit } from '@calhook/config';
import { createSealer } from '@calhook/crypto';
import { connectionRepo, createDatabase, hookRepo } from '@calhook/db';
import { callbackUrl, createHookIds, newSigningKey } from '@calhook/webhooks';

const config = loadConfigOrExit(process.env, ['receiver']);
const userId = process.argv[2] ?? 'demo-user';
const calendlyUserUri = process.argv[3] ?? 'https://api.calendly.com/users/DEMOUSER00000001';
const organizationUri = 'https://api.calendly.com/organizations/DEMOORG';
const database = createDatabase(config.databaseUrl, { max: 1 });
const sealer = createSealer(config.encryptionKeys);
try {
  const at = new Date();
  const connection = await connectionRepo.connectUser(
    database.db,
    userId,
    { calendlyUserUri, organizationUri },
    at,
  );
  const hookId = createHookIds(config.encryptionKeys).mint();
  const signingKey = newSigningKey();
  const url = callbackUrl(config.publicUrl, hookId);
  await hookRepo.insert(database.db, {
    id: hookId,
    connectionId: connection.id,
    calendlyUserUri,
    organizationUri,
    callbackUrl: url,
    events: MEETING_EVENTS,
    signingKeyEnc: sealer.seal(signingKey, { purpose: 'hook_signing_key', id: hookId }),
    replacesHookId: null,
    state: 'active',
    subscriptionUri: `https://api.calendly.com/webhook_subscriptions/dev-${randomBytes(6).toString('hex')}`,
  });
  // What a finished connect leaves: the webhook is live, so status shows it active.
  await connectionRepo.recordSubscriptionCheck(
    database.db,
    connection.id,
    { state: 'active', kept: [], created: [], deleted: [], untouched: 0 },
    at,
  );
  console.log(`HOOK_URL=${url}\nSIGNING_KEY=${signingKey}\nCALENDLY_USER=${calendlyUserUri}`);
} finally {
  await database.close();
}
