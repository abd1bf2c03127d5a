// The leads function over real HTTP through the local gateway: imports (good and bad rows,
// malformed files, dry runs, modes, tag and custom field merges, the owner's scoring rules and
// lead_created workflows applied to the new leads, the first 1,000 errors, 100,000 rows) and
// exports (round trip, status filter, quoting), and one owner's token never reaching another's
// leads.
import assert from "node:assert/strict";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import { serveFunctions } from "../_testing/email.ts";
import { bearerFor, createUser, deleteUsers, until } from "../_testing/harness.ts";

type Answer = {
  inserted: number;
  updated: number;
  unchanged: number;
  failed: number;
  errors: { row: number; field: string | null; message: string }[];
};

const counts = (answer: Answer) => {
  const { errors: _, ...rest } = answer;
  return rest;
};

async function send(
  url: string,
  user: UserClaims,
  body: BodyInit,
  { type = "text/csv", query = "" } = {},
) {
  const response = await fetch(`${url}/leads/import${query}`, {
    method: "POST",
    headers: { authorization: await bearerFor(user), "content-type": type },
    body,
  });
  return { status: response.status, body: await response.json() };
}

async function exported(url: string, user: UserClaims, query = "") {
  const response = await fetch(`${url}/leads/export${query}`, {
    headers: { authorization: await bearerFor(user) },
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/csv/);
  return await response.text();
}

/** The owner's leads, by email_normalized. */
const leadsOf = (user: UserClaims) =>
  asService((tx) =>
    tx<
      {
        email: string;
        first_name: string | null;
        company: string | null;
        status: string;
        tags: string[];
        custom_fields: Record<string, unknown>;
        updated_at: Date;
      }[]
    >`
      select email, first_name, company, status, tags, custom_fields, updated_at
      from public.leads where user_id = ${user.sub} order by email_normalized`
  );

/**
 * Polls `done` (every 100 ms, up to 30 s), running `work` before each look: the cron jobs
 * run the same work meanwhile, and a row one of them holds is skipped by ours.
 */
const settle = (what: string, work: () => Promise<unknown>, done: () => Promise<boolean>) =>
  until(what, async () => {
    await work();
    return await done();
  }, { withinMs: 30_000, everyMs: 100 });

/** What beacon-apply-scoring-rules does within a minute: the owner's new rules take effect. */
const applyScoringRules = (owner: UserClaims) =>
  settle(
    "rescoring",
    () => asService((tx) => tx`select private.apply_scoring_changes()`),
    async () => {
      const [{ pending }] = await asService((tx) =>
        tx`select exists (select from private.scoring_rescores where user_id = ${owner.sub}) as pending`
      );
      return !pending;
    },
  );

/** What beacon-lead-changes does within a second: the workflows of inserted leads start. */
const leadChangesExpanded = (owner: UserClaims) =>
  settle(
    "expanding the lead inserts",
    () => asService((tx) => tx`select private.expand_lead_changes(1000)`),
    async () => {
      const [{ pending }] = await asService((tx) =>
        tx`select exists (select from private.lead_changes where user_id = ${owner.sub}) as pending`
      );
      return !pending;
    },
  );

/** An active lead_created workflow of the owner's that tags the lead; returns its id. */
async function leadCreatedWorkflow(owner: UserClaims): Promise<string> {
  const [workflow] = await asUser(
    owner,
    (tx) =>
      tx`insert into public.workflows (name, trigger_config, action_config)
         values ('Welcome', '{"type": "lead_created"}',
                 '{"steps": [{"type": "add_tag", "tag": "welcomed"}]}')
         returning id`,
  );
  return workflow.id;
}

const unchangedBy = async (user: UserClaims, work: () => Promise<void>) => {
  const before = await leadsOf(user);
  await work();
  assert.deepEqual(await leadsOf(user), before, "the leads are as they were");
};

Deno.test({
  name: "leads import and export over HTTP",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const functions = await serveFunctions({
      BEACON_IMPORT_MAX_BYTES: String(20 * 1024 * 1024),
    });
    const small = await serveFunctions({ BEACON_IMPORT_MAX_BYTES: "200000" });
    const alice = await createUser("import");
    const bob = await createUser("import-other");
    const url = functions.url;
    try {
      await t.step(
        "good rows go in, bad rows are reported with row, field and message",
        async () => {
          const csv = [
            "email,first_name,company,status,tags,plan",
            "ada@example.com,Ada,Analytical Engines,qualified,vip;beta,pro",
            "not-an-email,Bad,,,,",
            "grace@example.com,Grace,,sleeping,,",
            "Linus@Example.com,Linus,,,,free",
            "short,row",
            'edsger@example.com,Edsger,"Dijkstra, ""EWD"" Inc.",,,',
          ].join("\n");
          const { status, body } = await send(url, alice, csv);
          assert.equal(status, 200, JSON.stringify(body));
          assert.deepEqual(counts(body), {
            inserted: 3,
            updated: 0,
            unchanged: 0,
            failed: 3,
          });
          assert.deepEqual(body.errors, [
            {
              row: 2,
              field: "email",
              message: "must be an email address such as ada@example.com",
            },
            {
              row: 3,
              field: "status",
              message: "must be one of new, qualified, contacted, converted, lost",
            },
            { row: 5, field: null, message: "has 2 fields; the header has 6" },
          ]);
          const leads = await leadsOf(alice);
          assert.deepEqual(
            leads.map((
              l,
            ) => [
              l.email,
              l.first_name,
              l.company,
              l.status,
              l.tags,
              l.custom_fields,
            ]),
            [
              ["ada@example.com", "Ada", "Analytical Engines", "qualified", [
                "vip",
                "beta",
              ], { plan: "pro" }],
              [
                "edsger@example.com",
                "Edsger",
                'Dijkstra, "EWD" Inc.',
                "new",
                [],
                {},
              ],
              ["Linus@Example.com", "Linus", null, "new", [], { plan: "free" }],
            ],
          );
        },
      );

      await t.step(
        "a row the database refuses is reported with its constraint, the rest go in",
        async () => {
          const { body } = await send(
            url,
            alice,
            "email,tags\nmany@example.com,x\n",
            {
              query: "?dry_run=true",
            },
          );
          assert.equal(body.inserted, 1);
          const tags = Array.from({ length: 100 }, (_, i) => `t${i}`).join(";");
          // 100 tags pass the row check; merged with ada's two, the database's check refuses them.
          const result = await send(
            url,
            alice,
            `email,tags\nada@example.com,${tags}\nnew@example.com,n\n`,
          );
          assert.deepEqual(counts(result.body), {
            inserted: 1,
            updated: 0,
            unchanged: 0,
            failed: 1,
          });
          assert.deepEqual(result.body.errors, [{
            row: 1,
            field: "tags",
            message: 'new row for relation "leads" violates check constraint "leads_tags_check"',
          }]);
        },
      );

      await t.step(
        "tags merge with the lead's, custom fields merge, empty cells keep values",
        async () => {
          const { body } = await send(
            url,
            alice,
            "EMAIL,Tags,first_name,seats\nADA@example.com,beta;gamma,,12\n",
          );
          assert.deepEqual(counts(body), {
            inserted: 0,
            updated: 1,
            unchanged: 0,
            failed: 0,
          });
          const [ada] = (await leadsOf(alice)).filter((l) => l.email === "ada@example.com");
          assert.deepEqual(
            [ada.first_name, ada.tags, ada.custom_fields],
            ["Ada", ["vip", "beta", "gamma"], { plan: "pro", seats: "12" }],
          );
        },
      );

      await t.step("a JSON array imports the same way", async () => {
        const { status, body } = await send(
          url,
          alice,
          JSON.stringify([
            {
              email: "json@example.com",
              tags: ["a", "b"],
              custom_fields: { n: 1 },
              region: "eu",
            },
            { email: "json2@example.com", phone: "call me" },
            7,
          ]),
          { type: "application/json" },
        );
        assert.equal(status, 200);
        assert.deepEqual(counts(body), {
          inserted: 1,
          updated: 0,
          unchanged: 0,
          failed: 2,
        });
        assert.deepEqual(
          body.errors.map((
            e: { row: number; field: string },
          ) => [e.row, e.field]),
          [
            [2, "phone"],
            [3, null],
          ],
        );
        const [lead] = (await leadsOf(alice)).filter((l) => l.email === "json@example.com");
        assert.deepEqual(lead.custom_fields, { n: 1, region: "eu" });
      });

      await t.step("dry run: the counts, and nothing changes", async () => {
        await unchangedBy(alice, async () => {
          const { body } = await send(
            url,
            alice,
            "email,first_name\nada@example.com,Countess\nfresh@example.com,F\nbad,\njson@example.com,\n",
            { query: "?dry_run=true" },
          );
          assert.deepEqual(counts(body), {
            inserted: 1,
            updated: 1,
            unchanged: 1,
            failed: 1,
          });
        });
      });

      await t.step(
        "modes: insert_only leaves existing leads, update_only inserts nothing",
        async () => {
          const csv = "email,first_name\nada@example.com,Countess\nonly-new@example.com,N\n";
          const inserted = await send(url, alice, csv, {
            query: "?mode=insert_only",
          });
          assert.deepEqual(counts(inserted.body), {
            inserted: 1,
            updated: 0,
            unchanged: 1,
            failed: 0,
          });
          const updateOnly = "email,first_name\nada@example.com,Countess\nnobody@example.com,N\n";
          const updated = await send(url, alice, updateOnly, {
            query: "?mode=update_only",
          });
          assert.deepEqual(counts(updated.body), {
            inserted: 0,
            updated: 1,
            unchanged: 0,
            failed: 1,
          });
          assert.deepEqual(updated.body.errors, [{
            row: 2,
            field: "email",
            message: "no lead has this email (mode update_only does not insert)",
          }]);
          const emails = (await leadsOf(alice)).map((l) => l.email);
          assert.ok(
            emails.includes("only-new@example.com") &&
              !emails.includes("nobody@example.com"),
          );
          const bad = await send(url, alice, csv, { query: "?mode=merge" });
          assert.equal(bad.status, 400);
          assert.match(
            JSON.stringify(bad.body),
            /must be upsert, insert_only or update_only/,
          );
        },
      );

      await t.step(
        "an email twice in one file is applied in file order",
        async () => {
          const { body } = await send(
            url,
            alice,
            "email,company\ntwice@example.com,One\nTWICE@example.com,Two\n",
          );
          assert.deepEqual(counts(body), {
            inserted: 1,
            updated: 1,
            unchanged: 0,
            failed: 0,
          });
          const [lead] = (await leadsOf(alice)).filter((l) => l.email === "twice@example.com");
          assert.equal(lead.company, "Two");
        },
      );

      await t.step(
        "a malformed file is refused as a whole and changes nothing",
        async () => {
          await unchangedBy(alice, async () => {
            const cases: [BodyInit, string, number, RegExp][] = [
              [
                new Uint8Array([
                  ...new TextEncoder().encode("email\nzed@example.com\n"),
                  0xff,
                  0xfe,
                  0x0a,
                ]),
                "text/csv",
                400,
                /not UTF-8/,
              ],
              ["name,company\nAda,AE\n", "text/csv", 400, /no email column/],
              [
                "email,Email\na@example.com,b@example.com\n",
                "text/csv",
                400,
                /names the column "email" twice/,
              ],
              [
                'email,company\nq@example.com,"unclosed\n',
                "text/csv",
                400,
                /not valid CSV/,
              ],
              ["", "text/csv", 400, /empty/],
              ["[{", "application/json", 400, /valid JSON/],
              [
                '{"email": "a@example.com"}',
                "application/json",
                400,
                /must be an array/,
              ],
              ["email\nx@example.com\n", "text/plain", 415, /text\/csv/],
            ];
            for (const [body, type, status, message] of cases) {
              const answer = await send(url, alice, body, { type });
              assert.equal(answer.status, status, JSON.stringify(answer.body));
              assert.match(answer.body.message, message);
            }
            // Over the limit: refused before reading (content-length) and half-way through a
            // streamed body, after batches were written (they are rolled back).
            const big = "email\n" +
              Array.from({ length: 12_000 }, (_, i) => `over${i}@example.com`)
                .join("\n");
            const declared = await send(small.url, alice, big);
            assert.equal(declared.status, 413);
            const streamed = await send(
              small.url,
              alice,
              ReadableStream.from([big]).pipeThrough(new TextEncoderStream()),
            );
            assert.equal(streamed.status, 413, JSON.stringify(streamed.body));
            assert.match(streamed.body.message, /over 0.2 MiB/);
          });
        },
      );

      await t.step(
        "subscription_status: applied, refused naming the field, an unsubscribe stays",
        async () => {
          const owner = await createUser("import-subscription");
          try {
            await asService((tx) =>
              tx`insert into public.email_suppressions (user_id, email, reason)
                 values (${owner.sub}, 'gone@example.com', 'unsubscribed')`
            );
            const states = () =>
              asService((tx) =>
                tx<{ email: string; subscription_status: string }[]>`
                  select email, subscription_status from public.leads
                  where user_id = ${owner.sub} order by email_normalized`
              ).then((rows) => rows.map((r) => [r.email, r.subscription_status]));
            const first = await send(
              url,
              owner,
              [
                "email,subscription_status",
                "ada@example.com,unsubscribed",
                "bob@example.com,",
                "cy@example.com,unconfirmed",
                "dee@example.com,maybe",
                "gone@example.com,subscribed",
              ].join("\n"),
            );
            assert.equal(first.status, 200, JSON.stringify(first.body));
            assert.deepEqual(counts(first.body), {
              inserted: 4,
              updated: 0,
              unchanged: 0,
              failed: 1,
            });
            assert.deepEqual(first.body.errors, [{
              row: 4,
              field: "subscription_status",
              message: "must be one of subscribed, unconfirmed, unsubscribed",
            }]);
            assert.deepEqual(await states(), [
              ["ada@example.com", "unsubscribed"],
              ["bob@example.com", "subscribed"],
              ["cy@example.com", "unconfirmed"],
              ["gone@example.com", "unsubscribed"],
            ]);
            const [{ custom }] = await asService((tx) =>
              tx`select count(*)::integer as custom from public.leads
                 where user_id = ${owner.sub} and custom_fields ? 'subscription_status'`
            );
            assert.equal(
              custom,
              0,
              "the column is a lead field, not a custom field",
            );

            const second = await send(
              url,
              owner,
              JSON.stringify([
                { email: "ada@example.com", subscription_status: "subscribed" },
                {
                  email: "bob@example.com",
                  subscription_status: "unsubscribed",
                },
                { email: "cy@example.com" },
                {
                  email: "gone@example.com",
                  subscription_status: "subscribed",
                },
              ]),
              { type: "application/json" },
            );
            assert.equal(second.status, 200, JSON.stringify(second.body));
            assert.deepEqual(counts(second.body), {
              inserted: 0,
              updated: 2,
              unchanged: 2,
              failed: 0,
            });
            assert.deepEqual(await states(), [
              ["ada@example.com", "subscribed"],
              ["bob@example.com", "unsubscribed"],
              ["cy@example.com", "unconfirmed"],
              ["gone@example.com", "unsubscribed"],
            ]);
          } finally {
            await deleteUsers(owner);
          }
        },
      );

      await t.step(
        "another user's token never sees or touches these leads",
        async () => {
          const before = await leadsOf(alice);
          assert.equal(
            await exported(url, bob),
            "email,first_name,last_name,company,phone,status,source,tags,subscription_status,score,created_at,updated_at,custom_fields\r\n",
          );
          const { body } = await send(
            url,
            bob,
            "email,first_name\nada@example.com,Mallory\n",
            {
              query: "?mode=update_only",
            },
          );
          assert.deepEqual(counts(body), {
            inserted: 0,
            updated: 0,
            unchanged: 0,
            failed: 1,
          });
          const upsert = await send(
            url,
            bob,
            "email,first_name\nada@example.com,Bob's Ada\n",
          );
          assert.deepEqual(counts(upsert.body), {
            inserted: 1,
            updated: 0,
            unchanged: 0,
            failed: 0,
          });
          assert.deepEqual(await leadsOf(alice), before);
          const unauthenticated = await fetch(`${url}/leads/export`);
          assert.equal(unauthenticated.status, 401);
          await unauthenticated.body?.cancel();
        },
      );

      await t.step(
        "export then re-import: everything unchanged; status filters",
        async () => {
          const csv = await exported(url, alice);
          const lines = csv.trimEnd().split("\r\n");
          assert.equal(lines.length, 1 + (await leadsOf(alice)).length);
          assert.ok(
            csv.includes('"Dijkstra, ""EWD"" Inc."'),
            "a cell with a comma and quotes is quoted",
          );
          await unchangedBy(alice, async () => {
            const { body } = await send(url, alice, csv);
            assert.deepEqual(counts(body), {
              inserted: 0,
              updated: 0,
              unchanged: lines.length - 1,
              failed: 0,
            });
          });
          const qualified = (await exported(url, alice, "?status=qualified"))
            .trimEnd().split("\r\n");
          assert.equal(qualified.length, 2);
          assert.match(qualified[1], /^ada@example\.com,/);
          const bad = await fetch(`${url}/leads/export?status=asleep`, {
            headers: { authorization: await bearerFor(alice) },
          });
          assert.equal(bad.status, 400);
          await bad.body?.cancel();
        },
      );

      await t.step("export by segment: its members only; not another owner's", async () => {
        const [segment] = await asUser(
          alice,
          (tx) =>
            tx`insert into public.segments (name, predicate)
             values ('VIPs', '{"tags": {"any": ["vip"]}}') returning id`,
        );
        const vips = (await leadsOf(alice)).filter((l) => l.tags.includes("vip"));
        assert.ok(vips.length > 0, "alice has VIPs");
        const lines = (await exported(url, alice, `?segment=${segment.id}`)).trimEnd()
          .split("\r\n");
        assert.deepEqual(
          lines.slice(1).map((line) => line.split(",")[0]).sort(),
          vips.map((l) => l.email).sort(),
        );
        const both = (await exported(url, alice, `?segment=${segment.id}&status=lost`))
          .trimEnd().split("\r\n");
        assert.equal(both.length, 1, "segment and status together: VIPs that are lost, none");
        for (
          const [who, query, status, message] of [
            [bob, `?segment=${segment.id}`, 404, /no segment .* among yours/],
            [alice, "?segment=vips", 400, /segment.*must be a segment id/],
          ] as const
        ) {
          const res = await fetch(`${url}/leads/export${query}`, {
            headers: { authorization: await bearerFor(who) },
          });
          assert.equal(res.status, status);
          assert.match(await res.text(), message);
        }
      });

      await t.step(
        "imported leads are scored by the owner's rules and start her lead_created workflow, new ones only",
        async () => {
          const owner = await createUser("import-effects");
          const other = await createUser("import-effects-other");
          try {
            await asUser(owner, async (tx) => {
              await tx`insert into public.leads (email, first_name)
                       values ('old1@effects.example', 'Old'), ('old2@effects.example', 'Same')`;
              await tx`insert into public.scoring_rules (name, points, condition) values
                ('VIP', 20, '{"type": "tag_present", "tag": "vip"}'),
                ('Pro plan', 7, '{"type": "custom_field", "key": "plan", "op": "eq", "value": "pro"}')`;
            });
            await applyScoringRules(owner);
            const welcome = await leadCreatedWorkflow(owner);
            const elsewhere = await leadCreatedWorkflow(other);

            // 1,500 new leads (two batches of the function's 1,000), one changed, one unchanged.
            const fresh = Array.from({ length: 1500 }, (_, i) => ({
              email: `new${i}@effects.example`,
              company: i % 3 === 0 ? `Company ${i}` : "",
              tags: i % 5 === 0 ? "vip;b2b" : "b2b",
              plan: i % 4 === 0 ? "pro" : "free",
            }));
            const lines = fresh.map((r) => `${r.email},,${r.company},${r.tags},${r.plan}`);
            lines.splice(700, 0, "old1@effects.example,Changed,,,");
            lines.unshift("old2@effects.example,Same,,,");
            const { status, body } = await send(
              url,
              owner,
              `email,first_name,company,tags,plan\n${lines.join("\n")}\n`,
            );
            assert.equal(status, 200, JSON.stringify(body).slice(0, 500));
            assert.deepEqual(counts(body), {
              inserted: 1500,
              updated: 1,
              unchanged: 1,
              failed: 0,
            });

            const scores = new Map(
              (await asService((tx) =>
                tx<{ email: string; score: number }[]>`
                  select email, score from public.leads where user_id = ${owner.sub}`
              )).map((l) => [l.email, l.score]),
            );
            const wrong = fresh.filter((r) =>
              scores.get(r.email) !==
                (r.company ? 10 : 0) + (r.tags.includes("vip") ? 20 : 0) +
                  (r.plan === "pro" ? 7 : 0)
            );
            assert.deepEqual(
              wrong.map((r) => [r.email, scores.get(r.email)]),
              [],
              "each new lead scores company +10 (the default rule), VIP +20 and Pro plan +7",
            );

            await leadChangesExpanded(owner);
            const started = await asService((tx) =>
              tx<{ workflow_id: string; email: string }[]>`
                select e.workflow_id, l.email
                from public.workflow_executions as e
                join public.leads as l on l.id = (e.trigger_data ->> 'lead_id')::uuid
                where e.workflow_id in (${welcome}, ${elsewhere})`
            );
            assert.ok(
              started.every((e) => e.workflow_id === welcome),
              "only the owner's workflow",
            );
            assert.deepEqual(
              started.map((e) => e.email).sort(),
              fresh.map((r) => r.email).sort(),
              "one run per inserted lead; none for the updated or the unchanged one",
            );
          } finally {
            await deleteUsers(owner, other);
          }
        },
      );

      await t.step(
        "errors: the first 1,000 by row, however many rows fail; the good rows go in",
        async () => {
          const owner = await createUser("import-errors");
          try {
            // A lead whose 100 tags leave no room: its row fails in the database, in the last
            // batch, after the parser has refused every bad row below it.
            const full = Array.from({ length: 100 }, (_, i) => `t${i}`);
            await asUser(
              owner,
              (tx) =>
                tx`insert into public.leads (email, tags) values ('full@errors.example', ${full})`,
            );
            const lines = ["full@errors.example,one-more"];
            const good: string[] = [];
            const bad: number[] = [];
            for (let i = 0; i < 2700; i++) {
              if (i % 9 === 0) {
                good.push(`good${i}@errors.example`);
                lines.push(`good${i}@errors.example,`);
              } else {
                bad.push(lines.length + 1);
                lines.push(`bad${i},`);
              }
            }
            const { status, body } = await send(
              url,
              owner,
              `email,tags\n${lines.join("\n")}\n`,
            );
            assert.equal(status, 200, JSON.stringify(body).slice(0, 500));
            assert.deepEqual(counts(body), {
              inserted: good.length,
              updated: 0,
              unchanged: 0,
              failed: bad.length + 1,
            });
            assert.equal(bad.length, 2400);
            assert.equal(body.errors.length, 1000);
            assert.deepEqual(body.errors[0], {
              row: 1,
              field: "tags",
              message: 'new row for relation "leads" violates check constraint "leads_tags_check"',
            });
            assert.deepEqual(
              body.errors.slice(1).map((e: { row: number }) => e.row),
              bad.slice(0, 999),
              "then the parser's errors, lowest rows first",
            );
            assert.ok(
              body.errors.slice(1).every((e: { field: string }) => e.field === "email"),
            );
            const [{ n }] = await asService((tx) =>
              tx`select count(*)::integer as n from public.leads
                 where user_id = ${owner.sub} and email like 'good%'`
            );
            assert.equal(n, good.length, "every good row went in");
          } finally {
            await deleteUsers(owner);
          }
        },
      );

      await t.step("100,000 rows import in one request", async () => {
        const owner = await createUser("import-100k");
        try {
          const rows = Array.from(
            { length: 100_000 },
            (_, i) =>
              `lead${i}@bulk.example,First${i},Last${i},Company ${i % 500},new,csv,t${
                i % 7
              };bulk,${i}`,
          );
          const csv = "email,first_name,last_name,company,status,source,tags,external_id\n" +
            rows.join("\n") + "\n";
          const started = performance.now();
          const { status, body } = await send(url, owner, csv);
          const seconds = (performance.now() - started) / 1000;
          console.log(
            `100,000 rows (${(csv.length / 1024 / 1024).toFixed(1)} MiB) imported in ${
              seconds.toFixed(1)
            } s`,
          );
          assert.equal(status, 200, JSON.stringify(body).slice(0, 500));
          assert.deepEqual(counts(body), {
            inserted: 100_000,
            updated: 0,
            unchanged: 0,
            failed: 0,
          });
          const [{ n }] = await asService((tx) =>
            tx`select count(*)::integer as n from public.leads where user_id = ${owner.sub}`
          );
          assert.equal(n, 100_000);
        } finally {
          await deleteUsers(owner);
        }
      });
    } finally {
      await deleteUsers(alice, bob);
      await functions.stop();
      await small.stop();
    }
  },
});
