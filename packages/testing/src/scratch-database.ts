import { dropDatabase, migrateDatabase } from '@calhook/db';
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
    drop: () => dropDatabase(url.toString()),
  };
}
