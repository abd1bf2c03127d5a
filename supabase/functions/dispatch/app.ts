// dispatch: drains the email queue, the workflow webhook queue and the social queue (posts and
// their metrics). Service-only: pg_cron
// calls it through pg_net (private.call_function('/dispatch')) and the local stack's loop
// (scripts/local/cron_loop.ts) calls it every few seconds.
//
//   POST /functions/v1/dispatch   {"max_chunks"?: 1-50, "budget_seconds"?: 1-55,
//                                  "lanes"?: ["email", "webhooks", "social", "metrics"]}
//                                 (body optional; every lane by default)
//     → 200 {"worker", "stopped": "drained"|"budget", "chunks", "claimed", "sent", "failed",
//            "retried", "provider_calls", "to_outbox", "elapsed_ms", "db_ms", "provider_ms",
//            "render_ms", "webhooks": {"claimed", "sent", "retried", "failed"},
//            "social": {"claimed", "published", "reconciled", "retried", "failed",
//                       "needs_reauth", "db_ms", "platform_ms", "error"?},
//            "metrics": {"claimed", "recorded", "failed", "error"?}}
import { z } from "zod";
import { requireService } from "../_shared/auth.ts";
import { createApp, readJson } from "../_shared/http.ts";
import { createDispatcher, type Dispatcher, LANES } from "./dispatcher.ts";
import { readDispatchSettings } from "./settings.ts";

const Body = z.object({
  max_chunks: z.int().min(1).max(50).optional(),
  budget_seconds: z.number().min(1).max(55).optional(),
  lanes: z.array(z.enum(LANES)).min(1).optional(),
}).strict();

export function createDispatchApp(dispatcher: Dispatcher) {
  const app = createApp("dispatch");
  app.post("/", requireService, async (c) => {
    const text = await c.req.text();
    const body = text.trim() === "" ? {} : await readJson(c, Body);
    return c.json(
      await dispatcher.run({
        maxChunks: body.max_chunks,
        budgetMs: body.budget_seconds === undefined ? undefined : body.budget_seconds * 1000,
        lanes: body.lanes,
      }),
    );
  });
  return app;
}

export const app = createDispatchApp(createDispatcher(readDispatchSettings()));
