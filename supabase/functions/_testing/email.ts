// Helpers for the email tests (dispatch, track, webhooks) and the email benchmark: campaigns
// made the way an app makes them (as the user, through RLS), the cron tick, a dispatcher
// pointed at a fake Resend, and every function served over real HTTP by the local gateway.
import { readDispatchSettings } from "../dispatch/settings.ts";
import { createDispatcher } from "../dispatch/dispatcher.ts";
import { campaignContents, claimBatch, type ClaimedRow } from "../dispatch/queries.ts";
import { type ChunkOutcome, deliverChunk } from "../dispatch/transports.ts";
import { renderMessage } from "../_shared/email/render.ts";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";

export type CampaignFields = {
  recipient_list: unknown[];
  subject?: string;
  content?: string;
  from_email?: string;
  from_name?: string;
  reply_to?: string;
};

/** A campaign scheduled for now, created by `user` as an app would (RLS applies). */
export async function scheduleCampaign(
  user: UserClaims,
  fields: CampaignFields,
): Promise<string> {
  const row = {
    subject: "Hello {{first_name|there}}",
    content:
      '<p>Hi {{first_name|there}}, read <a href="https://example.com/news">the news</a>.</p>',
    ...fields,
  };
  const [campaign] = await asUser(
    user,
    (tx) =>
      tx`insert into public.email_campaigns
         (subject, content, recipient_list, from_email, from_name, reply_to, status, send_at)
       values (${row.subject}, ${row.content}, ${tx.json(row.recipient_list as never)},
               ${row.from_email ?? null}, ${row.from_name ?? null}, ${row.reply_to ?? null},
               'scheduled', now())
       returning id`,
  );
  return campaign.id;
}

/** What pg_cron runs every minute (it may also run on its own meanwhile). */
export async function tick(): Promise<Record<string, unknown>> {
  const [row] = await asService((tx) => tx`select private.email_tick() as summary`);
  return row.summary;
}

/** Starts the campaign (the tick fans it out); returns its status afterwards. */
export async function startSending(campaignId: string): Promise<string> {
  await tick();
  const [row] = await asService((tx) =>
    tx`select status from public.email_campaigns where id = ${campaignId}`
  );
  return row.status;
}

export type Delivery = {
  id: string;
  email: string;
  status: string;
  attempts: number;
  last_error: string | null;
  provider_message_id: string | null;
  sent_at: Date | null;
  delivered_at: Date | null;
  opened_at: Date | null;
  human_opened_at: Date | null;
  clicked_at: Date | null;
  human_clicked_at: Date | null;
  bounced_at: Date | null;
  complained_at: Date | null;
  unsubscribed_at: Date | null;
};

export async function deliveries(campaignId: string): Promise<Delivery[]> {
  const rows = await asService((tx) =>
    tx<Delivery[]>`select * from public.email_deliveries
                   where email_campaign_id = ${campaignId} order by lower(email)`
  );
  return [...rows];
}

export type QueueRow = {
  delivery_id: string;
  chunk: number;
  run_after: Date;
  attempts: number;
  lease_until: Date | null;
  leased_by: string | null;
  chunk_key: string | null;
};

export async function queueRows(campaignId: string): Promise<QueueRow[]> {
  const rows = await asService((tx) =>
    tx<QueueRow[]>`select * from private.email_queue
                   where email_campaign_id = ${campaignId} order by delivery_id`
  );
  return [...rows];
}

/** Makes the campaign's waiting queue rows ready now, as if the backoff had passed. */
export async function makeReady(campaignId: string): Promise<void> {
  await asService((tx) =>
    tx`update private.email_queue
       set run_after = now() - interval '1 second'
       where email_campaign_id = ${campaignId} and lease_until is null`
  );
}

/** A dispatcher as the function builds it, with `overrides` on top of the environment. */
export function dispatcherWith(overrides: Record<string, string>) {
  return createDispatcher(
    readDispatchSettings({ ...Deno.env.toObject(), ...overrides }),
  );
}

/** Claims until this campaign's chunk comes up (other tests' chunks go back untouched). */
export async function claimChunk(
  worker: string,
  campaignId: string,
): Promise<ClaimedRow[]> {
  const rows = await claimBatch(worker, 100, 120, campaignContents());
  await asService((tx) =>
    tx`update private.email_queue
       set lease_until = null, leased_by = null, attempts = attempts - 1
       where leased_by = ${worker} and email_campaign_id <> ${campaignId}`
  );
  return rows.filter((row) => row.email_campaign_id === campaignId);
}

/**
 * What a worker does with a chunk it claimed, up to the moment it would report: renders the
 * rows and sends them to `resendUrl` with `env`'s RESEND_API_KEY under the chunk's key. Tests
 * then let it "die" (never report) to see what the next claim does.
 */
export function sendUnreported(
  rows: ClaimedRow[],
  env: Record<string, string>,
  resendUrl: string,
): Promise<ChunkOutcome> {
  const settings = readDispatchSettings({ ...Deno.env.toObject(), ...env });
  const messages = rows.map((row) =>
    renderMessage(row, {
      tracking: settings.tracking,
      defaultFrom: settings.sender.from,
      postalAddress: settings.sender.postalAddress,
    })
  );
  return deliverChunk(
    { kind: "resend", apiKey: env.RESEND_API_KEY, baseUrl: resendUrl },
    messages,
    rows[0].chunk_key,
  );
}

/** A free TCP port on 127.0.0.1 (free when asked; good enough for a test's server). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

const GATEWAY = new URL(
  "../../../scripts/local/serve_functions.ts",
  import.meta.url,
);
const FUNCTIONS_ENV = new URL(
  "../../../scripts/local/functions.env",
  import.meta.url,
);

/**
 * Every function served by the local gateway in a child process (as scripts/start does),
 * with `env` on top of scripts/local/functions.env. Resolves once it listens.
 */
export async function serveFunctions(env: Record<string, string> = {}) {
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--env-file=${FUNCTIONS_ENV.pathname}`,
      "-A",
      GATEWAY.pathname,
    ],
    env: {
      SUPABASE_URL: base,
      ...env,
      BEACON_FUNCTIONS_PORT: String(port),
      NO_COLOR: "1",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  while (!/functions: serving/.test(log)) {
    const { value, done } = await lines.read();
    if (done) {
      await child.status;
      throw new Error(`the functions server did not start:\n${log}`);
    }
    log += value;
  }
  // Keep draining its output so it never blocks on a full pipe; kept for failures.
  const drained = (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return;
      log += value;
    }
  })();
  return {
    url: `${base}/functions/v1`,
    /** The server's process id (for measuring it, as scripts/bench audience does). */
    pid: child.pid,
    log: () => log,
    async stop() {
      child.kill("SIGTERM");
      await drained;
      await child.status;
    },
  };
}

/** Settings that send through `resendUrl` with the platform key, fast (no pacing). */
export const resendEnv = (resendUrl: string): Record<string, string> => ({
  RESEND_API_KEY: "re_platform_key",
  RESEND_API_URL: resendUrl,
  BEACON_RESEND_RATE: "1000",
  BEACON_DISPATCH_BUDGET_SECONDS: "20",
});

/** Moves a campaign's send and delivery times back, as if that was `interval` ago. */
export async function sentAgo(
  campaignId: string,
  interval: string,
): Promise<void> {
  await asService((tx) =>
    tx`update public.email_deliveries
       set sent_at = sent_at - ${interval}::interval,
           delivered_at = delivered_at - ${interval}::interval
       where email_campaign_id = ${campaignId} and sent_at is not null`
  );
}

/** The path and query of a tracking URL, as the gateway hands them to the track app. */
export const trackPath = (url: string) => {
  const parsed = new URL(url.replaceAll("&amp;", "&"));
  return `${parsed.pathname.replace(/^\/functions\/v1/, "")}${parsed.search}`;
};

/** The open pixel's, the first tracked link's and the unsubscribe URLs of a sent HTML part. */
export function trackingUrls(html: string) {
  const src = /<img src="([^"]+\/open\/[^"]+)"/.exec(html)?.[1];
  const click = /href="([^"]+\/click\/[^"]+)"/.exec(html)?.[1];
  const unsubscribe = /href="([^"]+\/unsubscribe\/[^"]+)"/.exec(html)?.[1];
  if (!src || !click || !unsubscribe) {
    throw new Error(`no tracking links in:\n${html}`);
  }
  return {
    open: src.replaceAll("&amp;", "&"),
    click: click.replaceAll("&amp;", "&"),
    unsubscribe: unsubscribe.replaceAll("&amp;", "&"),
  };
}

/** A message the local outbox holds (see _shared/email/outbox.ts and eml.ts). */
export type OutboxMessage = {
  campaignId: string;
  to: string;
  subject: string;
  html: string;
};

/** Quoted-printable (RFC 2045) back to text: soft line breaks joined, =XX escapes as bytes. */
function fromQuotedPrintable(encoded: string): string {
  const joined = encoded.replaceAll("=\r\n", "");
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    if (joined[i] === "=") {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(joined.charCodeAt(i));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The headers a test looks at and the HTML part of an .eml the outbox wrote. */
export function readEml(eml: string): OutboxMessage {
  const head = eml.slice(0, eml.indexOf("\r\n\r\n"));
  const header = (name: string) => {
    const value = new RegExp(`^${name}: (.*)$`, "m").exec(head)?.[1];
    if (value === undefined) throw new Error(`no ${name} header in:\n${head}`);
    return value.trimEnd();
  };
  const html = /\r\nContent-Type: text\/html; charset=utf-8\r\n[^]*?\r\n\r\n([^]*?)\r\n--beacon-/
    .exec(eml)?.[1];
  if (html === undefined) throw new Error(`no HTML part in:\n${eml}`);
  return {
    campaignId: header("X-Beacon-Campaign"),
    to: header("To"),
    subject: header("Subject"),
    html: fromQuotedPrintable(html),
  };
}

/** Every message in the outbox `dir` (one directory per campaign, one .eml per recipient). */
export async function outboxMessages(dir: string): Promise<OutboxMessage[]> {
  const messages: OutboxMessage[] = [];
  for await (const campaign of Deno.readDir(dir)) {
    if (!campaign.isDirectory) continue;
    for await (const file of Deno.readDir(`${dir}/${campaign.name}`)) {
      if (!file.name.endsWith(".eml")) continue;
      messages.push(
        readEml(
          await Deno.readTextFile(`${dir}/${campaign.name}/${file.name}`),
        ),
      );
    }
  }
  return messages;
}
