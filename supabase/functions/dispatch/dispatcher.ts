// One dispatch run: claim chunks → render → send (one Resend batch call per chunk, its
// Idempotency-Key the chunk key) → report each chunk's results, until the queue has nothing
// ready or the time budget is spent. Several lanes work side by side, each claiming its own
// chunks (`skip locked` keeps them apart, and apart from other runs).
//
// Provider answers: a 429 within the run waits out retry-after (up to MAX_INLINE_WAIT_S) and
// tries the same chunk again; a longer one goes back to the queue with retry_after_seconds.
// 5xx, network errors and timeouts go back to the queue (exponential backoff there);
// validation errors fail the message with Resend's reason. A run that dies between sending
// and reporting leaves its chunks leased: the lease runs out, another run claims the same
// chunk (same members, same chunk key) and Resend answers the first send again instead of
// sending twice.
//
// Beside the email lanes, one lane drains workflow webhooks (webhooks.ts) the same way:
// claim under a lease, send, report; Postgres owns retries and dead-lettering. One lane
// publishes social posts and one fetches their metrics (social.ts). A run may be limited to
// some lanes (`lanes`), e.g. a benchmark of publishing alone.
import { type RenderedMessage, renderMessage } from "../_shared/email/render.ts";
import type { SenderSettings, TrackingSettings } from "../_shared/email/settings.ts";
import {
  campaignContents,
  claimBatch,
  type ClaimedRow,
  claimWebhooks,
  completeBatch,
  completeWebhooks,
  type DeliveryResult,
} from "./queries.ts";
import { deliverChunk, senderRefusal, type Transport, transportResolver } from "./transports.ts";
import { keyRing } from "../_shared/crypto.ts";
import {
  createSocialLane,
  type MetricsCounts,
  type SocialCounts,
  type SocialDeps,
} from "./social.ts";
import { createWebhookSender, type WebhookSettings } from "./webhooks.ts";

export type DispatchSettings = {
  tracking: TrackingSettings;
  sender: SenderSettings;
  /** Stop claiming after this long (the caller, pg_net, gives up at its own timeout). */
  budgetMs: number;
  /** Lanes working side by side. */
  concurrency: number;
  /** Chunks per claim, per lane. */
  maxChunks: number;
  leaseSeconds: number;
  /** Resend calls per second per API key (Resend's default team limit is 2). */
  resendRate: number;
  webhooks: WebhookSettings;
  social: Omit<SocialDeps, "ring">;
};

export const LANES = ["email", "webhooks", "social", "metrics"] as const;
export type Lane = (typeof LANES)[number];

export type RunOptions = {
  maxChunks?: number;
  budgetMs?: number;
  lanes?: Lane[];
};

export type RunReport = {
  worker: string;
  /** "drained": nothing ready was left; "budget": time ran out first. */
  stopped: "drained" | "budget";
  chunks: number;
  claimed: number;
  sent: number;
  failed: number;
  retried: number;
  /** Resend batch calls made, replays and 429s included. */
  provider_calls: number;
  to_outbox: number;
  elapsed_ms: number;
  /** Time spent waiting on Postgres (claim, complete, secrets), summed over lanes. */
  db_ms: number;
  /** Time spent waiting on the provider (or writing the outbox), summed over lanes. */
  provider_ms: number;
  render_ms: number;
  /** Workflow webhooks: claimed, and what became of them. */
  webhooks: { claimed: number; sent: number; retried: number; failed: number };
  /** Social targets: claimed, and what became of them. */
  social: SocialCounts;
  /** Social metrics fetched for published posts. */
  metrics: MetricsCounts;
};

/** Webhooks claimed at a time by the webhook lane (sent side by side). */
const WEBHOOKS_PER_CLAIM = 20;

/** Longest retry-after waited out inside a run; longer ones go back to the queue. */
const MAX_INLINE_WAIT_S = 5;
/** Tries per chunk within a run when the provider keeps answering 429. */
const MAX_INLINE_TRIES = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Spaces calls per key `1000 / rate` ms apart; `holdUntil` pushes every caller back. */
class Pacer {
  #next = new Map<string, number>();
  constructor(readonly rate: number) {}

  async acquire(key: string): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.#next.get(key) ?? 0);
    this.#next.set(key, slot + 1000 / this.rate);
    if (slot > now) await sleep(slot - now);
  }

  holdUntil(key: string, at: number) {
    this.#next.set(key, Math.max(at, this.#next.get(key) ?? 0));
  }
}

/** A delivery the platform may not send as its campaign's sender (see senderRefusal). */
const refuse = (row: ClaimedRow, error: string): DeliveryResult => ({
  delivery_id: row.delivery_id,
  outcome: "failed",
  error,
});

/** Groups claimed rows by chunk, keeping the claim's order. */
function chunksOf(rows: ClaimedRow[]): ClaimedRow[][] {
  const chunks = new Map<string, ClaimedRow[]>();
  for (const row of rows) {
    const members = chunks.get(row.chunk_key) ?? [];
    members.push(row);
    chunks.set(row.chunk_key, members);
  }
  return [...chunks.values()];
}

export function createDispatcher(settings: DispatchSettings) {
  const renderOptions = {
    tracking: settings.tracking,
    defaultFrom: settings.sender.from,
    postalAddress: settings.sender.postalAddress,
  };
  const pacer = new Pacer(settings.resendRate);

  /** Renders a chunk's messages; a message that cannot be rendered fails alone. */
  function render(rows: ClaimedRow[]) {
    const messages: RenderedMessage[] = [];
    const failed: DeliveryResult[] = [];
    for (const row of rows) {
      try {
        messages.push(renderMessage(row, renderOptions));
      } catch (err) {
        failed.push({
          delivery_id: row.delivery_id,
          outcome: "failed",
          error: `the message could not be rendered: ${(err as Error).message}`,
        });
      }
    }
    return { messages, failed };
  }

  async function run(options: RunOptions = {}): Promise<RunReport> {
    const started = Date.now();
    const budgetMs = options.budgetMs ?? settings.budgetMs;
    const maxChunks = options.maxChunks ?? settings.maxChunks;
    const worker = `dispatch-${crypto.randomUUID()}`;
    const transportFor = transportResolver(settings.sender);
    const campaigns = campaignContents();
    const report: RunReport = {
      worker,
      stopped: "drained",
      chunks: 0,
      claimed: 0,
      sent: 0,
      failed: 0,
      retried: 0,
      provider_calls: 0,
      to_outbox: 0,
      elapsed_ms: 0,
      db_ms: 0,
      provider_ms: 0,
      render_ms: 0,
      webhooks: { claimed: 0, sent: 0, retried: 0, failed: 0 },
      social: {
        claimed: 0,
        published: 0,
        reconciled: 0,
        retried: 0,
        failed: 0,
        needs_reauth: 0,
        db_ms: 0,
        platform_ms: 0,
      },
      metrics: { claimed: 0, recorded: 0, failed: 0 },
    };
    const lanes = new Set(options.lanes ?? LANES);
    const timed = async <T>(
      bucket: "db_ms" | "provider_ms" | "render_ms",
      work: () => T | Promise<T>,
    ) => {
      const t0 = performance.now();
      try {
        return await work();
      } finally {
        report[bucket] += performance.now() - t0;
      }
    };
    const remainingMs = () => budgetMs - (Date.now() - started);

    /** Sends a chunk through its transport, waiting out short 429s; returns its results. */
    async function send(
      transport: Transport,
      messages: RenderedMessage[],
      chunkKey: string,
    ) {
      const paceKey = transport.kind === "resend" ? transport.apiKey : "";
      for (let tries = 1;; tries++) {
        if (transport.kind === "resend") await pacer.acquire(paceKey);
        const outcome = await timed(
          "provider_ms",
          () => deliverChunk(transport, messages, chunkKey),
        );
        if (transport.kind === "resend") report.provider_calls++;
        if ("results" in outcome) return outcome.results;
        const waitMs = outcome.retryAfterSeconds * 1000;
        pacer.holdUntil(paceKey, Date.now() + waitMs);
        if (
          tries >= MAX_INLINE_TRIES ||
          outcome.retryAfterSeconds > MAX_INLINE_WAIT_S ||
          waitMs > remainingMs()
        ) {
          return messages.map((m): DeliveryResult => ({
            delivery_id: m.deliveryId,
            outcome: "retry",
            error: outcome.message,
            retry_after_seconds: outcome.retryAfterSeconds,
          }));
        }
      }
    }

    /** Sends one chunk; returns its results (the lane reports a claim's chunks together). */
    async function process(rows: ClaimedRow[]): Promise<DeliveryResult[]> {
      const chunkKey = rows[0].chunk_key;
      let results: DeliveryResult[];
      try {
        const transport = await timed(
          "db_ms",
          () => transportFor(rows[0].user_id),
        );
        const refusal = senderRefusal(transport, rows[0]);
        const { messages, failed } = refusal
          ? { messages: [], failed: rows.map((row) => refuse(row, refusal)) }
          : await timed("render_ms", () => render(rows));
        results = [
          ...failed,
          ...(messages.length ? await send(transport, messages, chunkKey) : []),
        ];
        if (transport.kind === "outbox") report.to_outbox += messages.length;
      } catch (err) {
        // E.g. the user's RESEND_API_KEY does not decrypt: keep the work, say why.
        const error = `the chunk could not be sent: ${(err as Error).message}`;
        results = rows.map((row) => ({
          delivery_id: row.delivery_id,
          outcome: "retry",
          error,
        }));
      }
      report.chunks++;
      for (const result of results) {
        if (result.outcome === "sent") report.sent++;
        else if (result.outcome === "failed") report.failed++;
        else report.retried++;
      }
      return results;
    }

    async function lane() {
      while (remainingMs() > 0) {
        const rows = await timed(
          "db_ms",
          () => claimBatch(worker, maxChunks, settings.leaseSeconds, campaigns),
        );
        if (rows.length === 0) return;
        report.claimed += rows.length;
        // One report per claim: a round trip per claim instead of one per chunk. (A lane that
        // dies before it reports leaves its chunks to be claimed again once the lease runs out;
        // they go out under the same Idempotency-Keys, which the provider answers once.)
        const results: DeliveryResult[] = [];
        for (const chunk of chunksOf(rows)) results.push(...await process(chunk));
        await timed("db_ms", () => completeBatch(worker, results));
      }
      report.stopped = "budget";
    }

    async function webhookLane() {
      const sender = createWebhookSender(settings.webhooks);
      while (remainingMs() > 0) {
        const hooks = await timed(
          "db_ms",
          () => claimWebhooks(worker, WEBHOOKS_PER_CLAIM, settings.leaseSeconds),
        );
        if (hooks.length === 0) return;
        report.webhooks.claimed += hooks.length;
        const results = await timed("provider_ms", () => sender.send(hooks));
        await timed("db_ms", () => completeWebhooks(worker, results));
        for (const result of results) {
          if (result.outcome === "sent") report.webhooks.sent++;
          else if (result.outcome === "failed") report.webhooks.failed++;
          else report.webhooks.retried++;
        }
      }
      report.stopped = "budget";
    }

    /** The social lanes; their database time is counted apart from the platforms'. */
    async function socialLanes() {
      const social = createSocialLane({
        ...settings.social,
        ring: await keyRing(),
      });
      // A social lane that fails (its SQL, a bug) says why in its counts and stops alone: the
      // email and webhook lanes of the same run go on.
      const alone = async (
        counts: { error?: string },
        work: (remaining: () => number) => Promise<"drained" | "budget">,
      ) => {
        try {
          if (await work(remainingMs) === "budget") report.stopped = "budget";
        } catch (err) {
          console.error(`[dispatch] ${worker}: a social lane failed:`, err);
          counts.error = (err as Error).message;
        }
      };
      await Promise.all([
        lanes.has("social")
          ? alone(report.social, (remaining) => social.run(remaining, report.social))
          : undefined,
        lanes.has("metrics")
          ? alone(report.metrics, (remaining) => social.runMetrics(remaining, report.metrics))
          : undefined,
      ]);
    }

    await Promise.all([
      ...(lanes.has("email") ? Array.from({ length: settings.concurrency }, lane) : []),
      lanes.has("webhooks") ? webhookLane() : undefined,
      lanes.has("social") || lanes.has("metrics") ? socialLanes() : undefined,
    ]);
    report.elapsed_ms = Date.now() - started;
    for (const bucket of ["db_ms", "provider_ms", "render_ms"] as const) {
      report[bucket] = Math.round(report[bucket]);
    }
    return report;
  }

  return { run };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
