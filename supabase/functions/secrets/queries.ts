// Every statement the secrets function runs itself. Storing a secret and re-encrypting under
// a new key are shared with other functions and live in _shared/secrets.ts and
// _shared/rotation.ts.
import type { Tx } from "../_shared/db.ts";

/**
 * Deletes the secret named `name` among those the transaction's role may delete (run as the
 * owner: RLS keeps it to their own); whether one was there.
 */
export async function deleteSecret(tx: Tx, name: string): Promise<boolean> {
  const deleted =
    await tx`delete from public.user_secrets where secret_name = ${name} returning id`;
  return deleted.length > 0;
}
