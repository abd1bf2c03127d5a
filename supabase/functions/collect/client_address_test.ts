// The visitor's address on collected events, as the gateway in front of the functions passes
// it: over real HTTP through the local gateway, which appends the address it was connected from
// to X-Forwarded-For as Supabase's gateway does, with BEACON_CLIENT_IP_HEADER set to that list
// (read from its right-most entry, the gateway's own). An address the client wrote itself is
// never stored, and an owner who asks for truncation gets the /24 network.
import assert from "node:assert/strict";
import { asUser } from "../_shared/db.ts";
import { createWriteKey, storedEvents } from "../_testing/collect.ts";
import { serveFunctions } from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";

dbTest(
  "collect stores the address the gateway forwards, truncated when the owner asks",
  async () => {
    const functions = await serveFunctions({ BEACON_CLIENT_IP_HEADER: "x-forwarded-for" });
    const whole = await createUser("collect-ip");
    const truncated = await createUser("collect-ip-truncated");
    try {
      await asUser(
        truncated,
        (tx) => tx`insert into public.collect_settings (truncate_ip) values (true)`,
      );
      for (const owner of [whole, truncated]) {
        const res = await fetch(`${functions.url}/collect`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${await createWriteKey(owner)}`,
            "content-type": "application/json",
            "user-agent": "Mozilla/5.0 (CollectIpTest)",
            // What a client may claim; the gateway appends the address it really saw.
            "x-forwarded-for": "203.0.113.66",
            "cf-connecting-ip": "203.0.113.67",
          },
          body: JSON.stringify({
            batch: [
              { type: "page", properties: { path: "/" }, anonymous_id: "v1" },
              { type: "track", event: "signup", anonymous_id: "v1" },
            ],
          }),
        });
        assert.equal(res.status, 200);
        assert.equal((await res.json()).accepted, 2);
      }
      const seen = async (owner: typeof whole) =>
        (await storedEvents(owner)).map((e) => [e.event_type, e.ip, e.user_agent]).sort();
      assert.deepEqual(await seen(whole), [
        ["page", "127.0.0.1", "Mozilla/5.0 (CollectIpTest)"],
        ["track", "127.0.0.1", "Mozilla/5.0 (CollectIpTest)"],
      ]);
      assert.deepEqual(await seen(truncated), [
        ["page", "127.0.0.0", "Mozilla/5.0 (CollectIpTest)"],
        ["track", "127.0.0.0", "Mozilla/5.0 (CollectIpTest)"],
      ]);
    } catch (err) {
      console.error(functions.log());
      throw err;
    } finally {
      await deleteUsers(whole, truncated);
      await functions.stop();
    }
  },
);
