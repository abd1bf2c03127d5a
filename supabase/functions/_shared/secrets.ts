// Server-side access to users' encrypted secrets. Clients can only write (through the
// secrets function) and list names; this is the one place that turns a stored secret back
// into plaintext, for code that acts on the user's behalf (e.g. sending with their own
// RESEND_API_KEY).
import { decrypt, encrypt, keyRing, secretContext } from "./crypto.ts";
import { asService } from "./db.ts";

export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
export const MAX_SECRET_BYTES = 8192;

/** Encrypts and stores (or replaces) a user's secret; says whether it was new. */
export async function storeUserSecret(userId: string, name: string, value: string) {
  const ciphertext = await encrypt(await keyRing(), value, secretContext(userId, name));
  const [row] = await asService((tx) =>
    tx`insert into public.user_secrets (user_id, secret_name, encrypted_value)
       values (${userId}, ${name}, ${ciphertext})
       on conflict (user_id, secret_name)
       do update set encrypted_value = excluded.encrypted_value
       returning created_at, updated_at, (xmax = 0) as created`
  );
  return row as { created_at: Date; updated_at: Date; created: boolean };
}

/** The plaintext of a user's secret, or null when they have not set it. */
export async function readUserSecret(userId: string, name: string): Promise<string | null> {
  const [row] = await asService((tx) =>
    tx`select encrypted_value from public.user_secrets
       where user_id = ${userId} and secret_name = ${name}`
  );
  if (!row) return null;
  return await decrypt(await keyRing(), row.encrypted_value, secretContext(userId, name));
}
