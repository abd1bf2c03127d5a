// Workflow webhooks end to end: a workflow's webhook step queues the webhook (the worker, in
// SQL), dispatch POSTs it signed to a receiver over real HTTPS, Postgres records the answer,
// and the worker resumes the execution with that outcome. Every receiver answer class.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import { dispatcherWith } from "../_testing/email.ts";
import { storeUserSecret } from "../_shared/secrets.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../_testing/webhook_receiver.ts";
import { privateHostProblem } from "./webhooks.ts";

const SECRET = "whk_test_signing_secret";

type Context = {
  user: UserClaims;
  receiver: WebhookReceiver;
  env: Record<string, string>;
};

async function withReceiver(
  label: string,
  work: (ctx: Context) => Promise<void>,
) {
  const receiver = await startWebhookReceiver();
  const user = await createUser(label);
  const env = {
    BEACON_WEBHOOK_CA_FILE: receiver.caFile,
    BEACON_WEBHOOK_ALLOW_PRIVATE_HOSTS: "true",
    BEACON_WEBHOOK_TIMEOUT_SECONDS: "1",
    BEACON_DISPATCH_BUDGET_SECONDS: "10",
  };
  try {
    await work({ user, receiver, env });
  } finally {
    await deleteUsers(user);
    await receiver.close();
  }
}

/** A manual workflow whose steps are a webhook to `url`, then a tag; run on a new lead. */
async function runHookWorkflow(
  user: UserClaims,
  url: string,
  step: Record<string, unknown> = {},
) {
  return await asUser(user, async (tx) => {
    const [workflow] = await tx`
      insert into public.workflows (name, trigger_config, action_config, is_active)
      values ('Notify CRM', '{"type": "manual"}', ${
      tx.json({
        steps: [
          {
            type: "webhook",
            url,
            headers: { "X-Team": "growth" },
            payload: { source: "beacon" },
            ...step,
          },
          { type: "add_tag", tag: "synced" },
        ],
      })
    }, true)
      returning id`;
    const email = `ada-${crypto.randomUUID().slice(0, 8)}@acme.example`;
    const [lead] = await tx`
      insert into public.leads (email, first_name) values (${email}, 'Ada') returning id`;
    const [run] = await tx`select public.run_workflow(${workflow.id}, ${lead.id}) as execution_id`;
    return {
      workflowId: workflow.id as string,
      leadId: lead.id as string,
      executionId: run.execution_id as string,
    };
  });
}

/** What pg_cron's worker does every minute, now. */
const runWorker = () => asService((tx) => tx`select private.run_workflow_batch(1000)`);

const execution = async (id: string) => {
  const [row] = await asService((tx) =>
    tx`select status, error_message, step_results from public.workflow_executions where id = ${id}`
  );
  return row;
};

const queued = async (executionId: string) => {
  const [row] = await asService((tx) =>
    tx`select status, attempts, http_status, last_error,
              extract(epoch from run_after - now())::integer as wait_seconds
       from private.webhook_queue where execution_id = ${executionId}`
  );
  return row;
};

dbTest(
  "a webhook step is POSTed signed, and its execution resumes with the answer",
  () =>
    withReceiver("hook-ok", async ({ user, receiver, env }) => {
      await storeUserSecret(user.sub, "WEBHOOK_SIGNING_SECRET", SECRET);
      const { executionId, leadId, workflowId } = await runHookWorkflow(
        user,
        `${receiver.url}/crm`,
      );
      await runWorker();
      assert.equal(
        (await execution(executionId)).status,
        "running",
        "parked on the webhook",
      );
      assert.equal((await queued(executionId)).status, "pending");

      const report = await dispatcherWith(env).run();
      assert.deepEqual(report.webhooks, {
        claimed: 1,
        sent: 1,
        retried: 0,
        failed: 0,
      });
      assert.equal(receiver.received.length, 1);
      const [hook] = receiver.received;
      assert.equal(hook.path, "/crm");
      assert.equal(hook.headers.get("content-type"), "application/json");
      assert.equal(hook.headers.get("x-team"), "growth");
      const webhookId = hook.headers.get("x-beacon-webhook-id")!;
      assert.equal(hook.headers.get("idempotency-key"), webhookId);

      const [, t, v1] = hook.headers.get("x-beacon-signature")!.match(
        /^t=(\d+),v1=([0-9a-f]{64})$/,
      )!;
      assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 60, "signed now");
      assert.equal(
        v1,
        createHmac("sha256", SECRET).update(`${t}.${hook.body}`).digest("hex"),
      );

      const body = JSON.parse(hook.body);
      assert.equal(body.type, "workflow.webhook");
      assert.deepEqual(body.workflow, { id: workflowId, name: "Notify CRM" });
      assert.equal(body.execution_id, executionId);
      assert.equal(body.lead.id, leadId);
      assert.equal(body.lead.first_name, "Ada");
      assert.equal(body.lead.user_id, undefined, "the owner's id is not sent");
      assert.deepEqual(body.payload, { source: "beacon" });

      assert.equal((await queued(executionId)).status, "sent");
      await runWorker();
      const done = await execution(executionId);
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.deepEqual(
        done.step_results.map((r: { type: string; status: string }) => `${r.type} ${r.status}`),
        ["webhook waiting", "webhook done", "add_tag done"],
      );
      assert.equal(done.step_results[1].http_status, 200);
      assert.equal(
        await queued(executionId),
        undefined,
        "the worker removes the finished webhook",
      );
      const [lead] = await asService((tx) =>
        tx`select tags from public.leads where id = ${leadId}`
      );
      assert.deepEqual(lead.tags, ["synced"]);
    }),
);

dbTest(
  "5xx and timeouts go back to the queue with backoff; 429 waits out retry-after",
  () =>
    withReceiver("hook-retry", async ({ user, receiver, env }) => {
      await storeUserSecret(user.sub, "WEBHOOK_SIGNING_SECRET", SECRET);
      receiver.answer("/down", { status: 503, body: "maintenance" });
      receiver.answer("/slow", { status: 200, delayMs: 2500 });
      receiver.answer("/busy", {
        status: 429,
        headers: { "retry-after": "600" },
        body: "slow down",
      });
      const down = await runHookWorkflow(user, `${receiver.url}/down`);
      await runWorker();
      const slow = await runHookWorkflow(user, `${receiver.url}/slow`);
      await runWorker();
      const busy = await runHookWorkflow(user, `${receiver.url}/busy`);
      await runWorker();

      const report = await dispatcherWith(env).run();
      assert.deepEqual(report.webhooks, {
        claimed: 3,
        sent: 0,
        retried: 3,
        failed: 0,
      });

      const d = await queued(down.executionId);
      assert.equal(d.status, "pending");
      assert.equal(d.attempts, 1);
      assert.equal(d.http_status, 503);
      assert.equal(d.last_error, "the receiver answered 503: maintenance");
      assert.ok(
        d.wait_seconds >= 29 && d.wait_seconds <= 40,
        `first backoff ~30 s, not ${d.wait_seconds}`,
      );

      const s = await queued(slow.executionId);
      assert.equal(s.status, "pending");
      assert.match(
        s.last_error,
        /^no answer from https:\/\/localhost:\d+\/slow within 1 s$/,
      );

      const b = await queued(busy.executionId);
      assert.equal(b.http_status, 429);
      assert.ok(
        b.wait_seconds >= 599,
        `retry-after 600 s is honoured, not ${b.wait_seconds}`,
      );

      for (const { executionId } of [down, slow, busy]) {
        assert.equal(
          (await execution(executionId)).status,
          "running",
          "still waiting for its webhook",
        );
      }
    }),
);

dbTest(
  "a 4xx or a redirect fails the webhook at once, and its execution with it",
  () =>
    withReceiver("hook-4xx", async ({ user, receiver, env }) => {
      await storeUserSecret(user.sub, "WEBHOOK_SIGNING_SECRET", SECRET);
      receiver.answer("/gone", {
        status: 410,
        body: '{"error":"endpoint removed"}',
      });
      receiver.answer("/moved", {
        status: 301,
        headers: { location: "https://elsewhere.example/" },
      });
      const gone = await runHookWorkflow(user, `${receiver.url}/gone`);
      const moved = await runHookWorkflow(user, `${receiver.url}/moved`);
      await runWorker();

      const report = await dispatcherWith(env).run();
      assert.deepEqual(report.webhooks, {
        claimed: 2,
        sent: 0,
        retried: 0,
        failed: 2,
      });
      assert.equal(
        receiver.received.filter((r) => r.path === "/moved").length,
        1,
        "the redirect is not followed",
      );

      await runWorker();
      const g = await execution(gone.executionId);
      assert.equal(g.status, "failed");
      assert.equal(
        g.error_message,
        'steps[0] (webhook): the receiver answered 410: {"error":"endpoint removed"}',
      );
      const m = await execution(moved.executionId);
      assert.equal(m.status, "failed");
      assert.match(
        m.error_message,
        /^steps\[0\] \(webhook\): the receiver answered 301 \(a redirect, not followed\)/,
      );
      const [lead] = await asService((tx) =>
        tx`select tags from public.leads where id = ${gone.leadId}`
      );
      assert.deepEqual(
        lead.tags,
        [],
        "the steps after the failed webhook do not run",
      );
    }),
);

dbTest(
  "without the named secret nothing is sent and the execution says which secret to store",
  () =>
    withReceiver("hook-nosecret", async ({ user, receiver, env }) => {
      const { executionId } = await runHookWorkflow(
        user,
        `${receiver.url}/crm`,
        { secret_name: "CRM_HOOK_KEY" },
      );
      await runWorker();
      const report = await dispatcherWith(env).run();
      assert.deepEqual(report.webhooks, {
        claimed: 1,
        sent: 0,
        retried: 0,
        failed: 1,
      });
      assert.equal(receiver.received.length, 0);
      await runWorker();
      const failed = await execution(executionId);
      assert.equal(failed.status, "failed");
      assert.match(
        failed.error_message,
        /no secret named CRM_HOOK_KEY to sign with: store one with PUT \/functions\/v1\/secrets\/CRM_HOOK_KEY/,
      );
    }),
);

dbTest(
  "another user's secret of the same name never signs a webhook",
  () =>
    withReceiver("hook-tenant", async ({ user, receiver, env }) => {
      const other = await createUser("hook-tenant-other");
      try {
        await storeUserSecret(
          other.sub,
          "WEBHOOK_SIGNING_SECRET",
          "the-other-users-secret",
        );
        await runHookWorkflow(user, `${receiver.url}/crm`);
        await runWorker();
        const report = await dispatcherWith(env).run();
        assert.equal(report.webhooks.failed, 1);
        assert.equal(receiver.received.length, 0);
      } finally {
        await deleteUsers(other);
      }
    }),
);

dbTest(
  "loopback and private addresses are refused unless the stack allows them",
  () =>
    withReceiver("hook-private", async ({ user, receiver, env }) => {
      await storeUserSecret(user.sub, "WEBHOOK_SIGNING_SECRET", SECRET);
      const { executionId } = await runHookWorkflow(
        user,
        `${receiver.url}/crm`,
      );
      await runWorker();
      const report = await dispatcherWith({
        ...env,
        BEACON_WEBHOOK_ALLOW_PRIVATE_HOSTS: "false",
      }).run();
      assert.equal(report.webhooks.failed, 1);
      assert.equal(receiver.received.length, 0);
      await runWorker();
      assert.match(
        (await execution(executionId)).error_message,
        /localhost is a loopback, private or link-local address; webhooks go to public hosts only/,
      );
    }),
);

Deno.test("privateHostProblem: literal private addresses and localhost names, not public hosts", () => {
  for (
    const url of [
      "https://localhost/x",
      "https://api.localhost/x",
      "https://127.0.0.1:8443/",
      "https://10.1.2.3/",
      "https://172.20.0.1/",
      "https://192.168.1.10/",
      "https://169.254.169.254/latest",
      "https://100.64.0.1/",
      "https://0.0.0.0/",
      "https://[::1]/",
      "https://[fd00::1]/",
      "https://[fe80::1]/",
      "https://[::ffff:10.0.0.1]/",
    ]
  ) assert.ok(privateHostProblem(url), url);
  for (
    const url of [
      "https://hooks.example.com/in",
      "https://8.8.8.8/",
      "https://172.32.0.1/",
      "https://192.169.0.1/",
      "https://[2001:db8::1]/",
    ]
  ) assert.equal(privateHostProblem(url), null, url);
});
