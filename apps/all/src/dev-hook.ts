// `pnpm dev:hook [userId] [calendlyUserUri]`: registers a connection and a hook directly in the
// database, with no Calendly account, and prints what a signed curl delivery needs. For
// trying calhook locally; real connections come from PUT /v1/connections/:userId.
import { randomBytes } from 'node:crypto';
import { loadConfigOrExit } from '@calhook/config';
import { createSealer } from '@calhook/crypto';
import { connections, createDatabase, webhookHooks } from '@calhook/db';
import { callbackUrl, newHookId, newSigningKey } from '@calhook/webhooks';

const config = loadConfigOrExit(process.env, ['receiver']);
const userId = process.argv[2] ?? 'demo-user';
const calendlyUserUri = process.argv[3] ?? 'https://api.calendly.com/users/DEMOUSER00000001';
const database = createDatabase(config.databaseUrl, { max: 1 });
const sealer = createSealer(config.encryptionKeys);
try {
  const [connection] = await database.db
    .insert(connections)
    .values({
      userId,
      calendlyUserUri,
      organizationUri: 'https://api.calendly.com/organizations/DEMOORG',
      webhookState: 'active',
    })
    .onConflictDoUpdate({
      target: connections.userId,
      set: { calendlyUserUri, status: 'active', updatedAt: new Date() },
    })
    .returning({ id: connections.id });
  if (!connection) throw new Error('no connection row');
  const hookId = newHookId();
  const signingKey = newSigningKey();
  const url = callbackUrl(config.publicUrl, hookId);
  await database.db.insert(webhookHooks).values({
    id: hookId,
    connectionId: connection.id,
    calendlyUserUri,
    callbackUrl: url,
    state: 'active',
    signingKeyEnc: sealer.seal(signingKey),
    subscriptionUri: `https://api.calendly.com/webhook_subscriptions/dev-${randomBytes(6).toString('hex')}`,
  });
  console.log(`HOOK_URL=${url}\nSIGNING_KEY=${signingKey}\nCALENDLY_USER=${calendlyUserUri}`);
} finally {
  await database.close();
}
