// Key rotation: re-encrypts every stored ciphertext (user secrets and OAuth tokens) that was
// written with an older key, under the newest key of BEACON_ENCRYPTION_KEYS. Once it reports
// nothing left, the old key can be removed from the ring.
//
// Rows are claimed in batches with `for update skip locked`, so two rotations running at once
// share the work instead of fighting over it, and a crash loses at most one batch's
// transaction (which is then simply redone).
import { decrypt, encrypt, type KeyRing, keyRing, secretContext, tokenContext } from "./crypto.ts";
import { asService, type Tx } from "./db.ts";

const BATCH = 200;

type Ciphertext = { id: string; column: string; stored: string; context: string };
type Failure = { table: string; id: string; reason: string };

/** One kind of stored ciphertext: how to claim stale rows and how to write them back. */
type Store = {
  table: string;
  claim(tx: Tx, stalePattern: string, skip: string[]): Promise<Ciphertext[]>;
  write(tx: Tx, id: string, column: string, value: string): Promise<unknown>;
};

const secrets: Store = {
  table: "user_secrets",
  async claim(tx, stale, skip) {
    const rows = await tx`
      select id, user_id, secret_name, encrypted_value from public.user_secrets
      where encrypted_value not like ${stale} and id <> all(${skip}::uuid[])
      order by id limit ${BATCH} for update skip locked`;
    return rows.map((r) => ({
      id: r.id,
      column: "encrypted_value",
      stored: r.encrypted_value,
      context: secretContext(r.user_id, r.secret_name),
    }));
  },
  write: (tx, id, _column, value) =>
    tx`update public.user_secrets set encrypted_value = ${value} where id = ${id}`,
};

const tokens: Store = {
  table: "social_connections",
  async claim(tx, stale, skip) {
    const rows = await tx`
      select id, user_id, platform, access_token, refresh_token from public.social_connections
      where (access_token not like ${stale} or refresh_token not like ${stale})
        and id <> all(${skip}::uuid[])
      order by id limit ${BATCH} for update skip locked`;
    return rows.flatMap((r) =>
      (["access_token", "refresh_token"] as const)
        .filter((kind) => r[kind] !== null && !r[kind].startsWith(stale.slice(0, -1)))
        .map((kind) => ({
          id: r.id,
          column: kind,
          stored: r[kind],
          context: tokenContext(r.user_id, r.platform, kind),
        }))
    );
  },
  write: (tx, id, column, value) =>
    column === "access_token"
      ? tx`update public.social_connections set access_token = ${value} where id = ${id}`
      : tx`update public.social_connections set refresh_token = ${value} where id = ${id}`,
};

async function rotateStore(ring: KeyRing, store: Store, failures: Failure[]): Promise<number> {
  const stale = `${ring.newest.version}.%`;
  const skip: string[] = [];
  let rotated = 0;
  for (;;) {
    const done = await asService(async (tx) => {
      const claimed = await store.claim(tx, stale, skip);
      for (const item of claimed) {
        try {
          const plain = await decrypt(ring, item.stored, item.context);
          await store.write(tx, item.id, item.column, await encrypt(ring, plain, item.context));
          rotated++;
        } catch (err) {
          // Left as it is (still readable with its old key, if that key stays in the ring).
          skip.push(item.id);
          failures.push({ table: store.table, id: item.id, reason: (err as Error).message });
        }
      }
      return claimed.length === 0;
    });
    if (done) return rotated;
  }
}

/** Re-encrypts everything under the newest key; reports counts and any value it could not. */
export async function rotateKeys(ring?: KeyRing) {
  ring ??= await keyRing();
  const failures: Failure[] = [];
  const secretsRotated = await rotateStore(ring, secrets, failures);
  const tokensRotated = await rotateStore(ring, tokens, failures);
  return { key: ring.newest.version, secrets: secretsRotated, tokens: tokensRotated, failures };
}
