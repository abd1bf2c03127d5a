import assert from "node:assert/strict";
import { asService, asUser } from "./db.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";

dbTest("asUser applies RLS: each user sees only their own rows", async () => {
  const alice = await createUser("alice");
  const bob = await createUser("bob");
  try {
    await asUser(alice, (tx) => tx`insert into public.leads (email) values ('a@example.com')`);
    await asUser(bob, (tx) => tx`insert into public.leads (email) values ('b@example.com')`);
    const seen = await asUser(alice, (tx) => tx`select email, user_id from public.leads`);
    assert.deepEqual([...seen], [{ email: "a@example.com", user_id: alice.sub }]);
    const all = await asService((tx) =>
      tx`select count(*)::int as n from public.leads where user_id in (${alice.sub}, ${bob.sub})`
    );
    assert.equal(all[0].n, 2);
  } finally {
    await deleteUsers(alice, bob);
  }
});

dbTest("asUser applies column grants: the secret column is unreadable", async () => {
  const alice = await createUser("alice");
  try {
    await assert.rejects(
      asUser(alice, (tx) => tx`select encrypted_value from public.user_secrets`),
      (err: { code?: string }) => err.code === "42501",
    );
  } finally {
    await deleteUsers(alice);
  }
});

dbTest("a failing callback rolls its whole transaction back", async () => {
  const alice = await createUser("alice");
  try {
    await assert.rejects(
      asUser(alice, async (tx) => {
        await tx`insert into public.leads (email) values ('kept@example.com')`;
        await tx`insert into public.leads (email) values ('not an email')`;
      }),
      (err: { code?: string }) => err.code === "23514",
    );
    const rows = await asUser(alice, (tx) => tx`select 1 from public.leads`);
    assert.equal(rows.length, 0);
  } finally {
    await deleteUsers(alice);
  }
});

dbTest("asService runs as the owner role with service claims", async () => {
  const [row] = await asService((tx) =>
    tx`select current_user as role, auth.role() as claim_role, auth.uid() as uid`
  );
  assert.deepEqual({ ...row }, { role: "postgres", claim_role: "service_role", uid: null });
});
