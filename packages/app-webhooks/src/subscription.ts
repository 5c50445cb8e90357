import type { ChangeType } from '@calhook/db';

/** Whether an endpoint subscribed to these types (null: every type) wants a change of `type`. */
export function subscribes(types: readonly string[] | null, type: ChangeType | string): boolean {
  return types === null || types.includes(type);
}
