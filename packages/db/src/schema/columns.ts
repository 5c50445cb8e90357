import { timestamp } from 'drizzle-orm/pg-core';

/** Timestamps are stored with time zone and read back as Date. */
export const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const timestamps = {
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
};
