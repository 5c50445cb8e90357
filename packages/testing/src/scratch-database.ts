import { migrateDatabase } from '@calhook/db';
import postgres from 'postgres';
import { testUrls, uniqueId } from './index.ts';

export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A migrated database of the test's own on the test server, for a test whose rows every
 * process sharing the database would act on (app webhook endpoints are deployment-wide).
 */
export async function scratchDatabase(): Promise<ScratchDatabase> {
  const url = new URL(testUrls().databaseUrl);
  url.pathname = `/${uniqueId('calhook_scratch_')}`;
  await migrateDatabase(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const admin = new URL(url);
      admin.pathname = '/postgres';
      const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists "${url.pathname.slice(1)}" with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
