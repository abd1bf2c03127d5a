// The local stack's stand-in for pg_net: on hosted Supabase, pg_cron jobs POST to the edge
// functions through pg_net (private.call_function); the Docker-free stack has no pg_net, so
// this loop makes the same calls, with the service-role key:
//   every BEACON_DISPATCH_EVERY_SECONDS (5)  POST $FUNCTIONS_URL/dispatch   (the email queue)
//   every 15 minutes                         POST $FUNCTIONS_URL/oauth/refresh (social tokens)
// pg_cron itself still runs the SQL jobs (the email tick fans campaigns out every minute).
// Failures are logged in one line, and once until the call works again. SIGINT or SIGTERM
// stops it between calls.
//
//   FUNCTIONS_URL=http://127.0.0.1:54321/functions/v1 SUPABASE_SERVICE_ROLE_KEY=... \
//     deno run --allow-net --allow-env scripts/local/cron_loop.ts

export type Job = { path: string; everyMs: number };

export type LoopOptions = {
  functionsUrl: string;
  serviceKey: string;
  jobs: Job[];
  log?: (line: string) => void;
  /** Per call; a dispatch run is budgeted below it. */
  timeoutMs?: number;
};

/** Runs the jobs until `signal` aborts; resolves once the loop has stopped. */
export async function runLoop(
  options: LoopOptions,
  signal: AbortSignal,
): Promise<void> {
  const log = options.log ?? ((line) => console.error(line));
  const base = options.functionsUrl.replace(/\/+$/, "");
  const failing = new Set<string>();
  const due = new Map(options.jobs.map((job) => [job.path, 0]));

  async function call(job: Job) {
    try {
      const res = await fetch(`${base}${job.path}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${options.serviceKey}`,
          "content-type": "application/json",
        },
        body: "{}",
        signal: AbortSignal.any([
          signal,
          AbortSignal.timeout(options.timeoutMs ?? 60_000),
        ]),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 200)}`);
      if (failing.delete(job.path)) log(`cron: POST ${job.path} works again`);
    } catch (err) {
      if (signal.aborted) return;
      if (!failing.has(job.path)) {
        failing.add(job.path);
        log(
          `cron: POST ${job.path} failed: ${err instanceof Error ? err.message : err}`,
        );
      }
    }
  }

  while (!signal.aborted) {
    const now = Date.now();
    for (const job of options.jobs) {
      if (now >= due.get(job.path)!) {
        due.set(job.path, now + job.everyMs);
        await call(job);
        if (signal.aborted) return;
      }
    }
    const next = Math.min(...due.values()) - Date.now();
    if (next > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, next);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
  }
}

if (import.meta.main) {
  const functionsUrl = Deno.env.get("FUNCTIONS_URL");
  const serviceKey = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY");
  const every = Number(Deno.env.get("BEACON_DISPATCH_EVERY_SECONDS") ?? "5");
  if (!functionsUrl || !serviceKey || !(every > 0)) {
    console.error(
      "cron: set FUNCTIONS_URL and SUPABASE_SERVICE_ROLE_KEY (BEACON_DISPATCH_EVERY_SECONDS > 0)",
    );
    Deno.exit(2);
  }
  const stop = new AbortController();
  Deno.addSignalListener("SIGINT", () => stop.abort());
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  await runLoop({
    functionsUrl,
    serviceKey,
    jobs: [
      { path: "/dispatch", everyMs: every * 1000 },
      { path: "/oauth/refresh", everyMs: 15 * 60_000 },
    ],
  }, stop.signal);
  console.error("cron: stopped");
  Deno.exit(0);
}
