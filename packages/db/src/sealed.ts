// Sealed columns (packages/crypto) as their owners re-seal them: each owner walks its rows and
// asks `Reseal` for a new ciphertext; nothing here writes a table.

/** Where a sealed value belongs (the crypto package's SealContext). */
export interface SealedContext {
  purpose:
    | 'access_token'
    | 'refresh_token'
    | 'hook_signing_key'
    | 'oauth_code_verifier'
    | 'oauth_code'
    | 'endpoint_secret';
  id: string;
}

/** A new ciphertext for a sealed value, or null when it is already current. */
export type Reseal = (sealed: string, context: SealedContext) => string | null;

/** How many values an owner re-sealed, by column. */
export type ResealCounts = Record<string, number>;

/** Rows read per step of a re-seal: a bounded read however many rows there are. */
export const RESEAL_BATCH = 500;
