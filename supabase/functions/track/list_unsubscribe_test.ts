// Subscription lists on the unsubscribe page: a recipient of a campaign sent to a list sees
// one "Leave <list>" button per list they are on; leaving one list keeps the address
// subscribed to the rest (no suppression), and the next campaign to that list skips them.
import assert from "node:assert/strict";
import { asService, asUser } from "../_shared/db.ts";
import { readTrackingSettings } from "../_shared/email/settings.ts";
import { startResendFake } from "../_testing/fakes/resend.ts";
import {
  deliveries,
  dispatcherWith,
  resendEnv,
  scheduleCampaign,
  startSending,
  trackingUrls,
  trackPath,
} from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createTrackApp } from "./app.ts";

const app = createTrackApp(readTrackingSettings());

const post = (url: string, body: string) =>
  app.request(trackPath(url), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });

dbTest("a recipient leaves one list from the unsubscribe page, and only that list", async () => {
  const fake = startResendFake();
  const user = await createUser("lists");
  try {
    const address = `reader-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const [news, product] = await asUser(user, async (tx) => {
      const [lead] = await tx<{ id: string }[]>`
        insert into public.leads (email) values (${address}) returning id`;
      const lists = await tx<{ id: string }[]>`
        insert into public.lists (name) values ('Newsletter'), ('Product updates') returning id`;
      await tx`
        insert into public.list_memberships (list_id, lead_id)
        select l.id, ${lead.id}::uuid from public.lists as l`;
      return lists.map((l) => l.id);
    });
    const campaignId = await scheduleCampaign(user, { recipient_list: [{ list: news }] });
    assert.equal(await startSending(campaignId), "sending");
    await dispatcherWith(resendEnv(fake.url)).run();
    const email = fake.sentTo(address)[0];
    assert.ok(email, "the list's member was sent the campaign");
    const { unsubscribe } = trackingUrls(email.html!);

    let res = await app.request(trackPath(unsubscribe));
    assert.equal(res.status, 200);
    const page = await res.text();
    assert.ok(page.includes(`name="list" value="${news}">Leave Newsletter`), page);
    assert.ok(page.includes(`name="list" value="${product}">Leave Product updates`), page);
    assert.ok(page.includes("Unsubscribe from everything"), page);

    res = await post(unsubscribe, "List-Unsubscribe=One-Click&list=not-a-uuid");
    assert.equal(res.status, 400, "a list that is no id is refused");
    assert.match(await res.text(), /list/);

    res = await post(unsubscribe, `List-Unsubscribe=One-Click&list=${crypto.randomUUID()}`);
    assert.equal(res.status, 404, "a list the recipient is not on is not found");
    await res.body?.cancel();

    res = await post(unsubscribe, `List-Unsubscribe=One-Click&list=${news}`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /will not receive Newsletter emails/);
    res = await post(unsubscribe, `List-Unsubscribe=One-Click&list=${news}`);
    assert.equal(res.status, 200, "leaving again changes nothing");
    await res.body?.cancel();

    const state = await asService((tx) =>
      tx`select
           (select array_agg(l.name order by l.name) from public.list_memberships as m
            join public.lists as l on l.id = m.list_id
            where m.user_id = ${user.sub} and m.unsubscribed_at is null) as still_on,
           (select count(*)::int from public.email_suppressions where user_id = ${user.sub}) as suppressions,
           (select subscription_status from public.leads where user_id = ${user.sub}) as status`
    );
    assert.deepEqual([...state], [{
      still_on: ["Product updates"],
      suppressions: 0,
      status: "subscribed",
    }]);

    res = await app.request(trackPath(unsubscribe));
    assert.ok(
      !(await res.text()).includes("Leave Newsletter"),
      "the page no longer offers the list left",
    );

    const next = await scheduleCampaign(user, {
      recipient_list: [{ list: news }, { list: product }],
    });
    assert.equal(await startSending(next), "sending");
    const sent = await deliveries(next);
    assert.equal(sent.length, 1, "a campaign to both lists still reaches the reader, once");
    const onlyNews = await scheduleCampaign(user, { recipient_list: [{ list: news }] });
    await startSending(onlyNews);
    assert.equal(
      (await deliveries(onlyNews)).length,
      0,
      "the next campaign to the list left skips them",
    );
  } finally {
    await deleteUsers(user);
    await fake.close();
  }
});
