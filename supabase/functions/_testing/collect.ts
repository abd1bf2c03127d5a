// Helpers for tests of the collect function: owners with write keys and engagement rules,
// and what ended up in analytics_events and leads.
import { asService, asUser, type UserClaims } from "../_shared/db.ts";

/** A new write key of `user`, as create_write_key returns it. */
export async function createWriteKey(
  user: UserClaims,
  name = "website",
): Promise<string> {
  const [row] = await asUser(
    user,
    (tx) => tx`select key from public.create_write_key(${name})`,
  );
  return row.key;
}

/** An active engagement rule of `user`: `points` for each event matching `condition`. */
export async function addEngagementRule(
  user: UserClaims,
  condition: Record<string, unknown>,
  points: number,
) {
  const rule = JSON.stringify({ type: "event", ...condition });
  await asUser(user, (tx) =>
    tx`insert into public.scoring_rules (name, condition, points)
       values ('collected events', ${rule}::text::jsonb, ${points})`);
}

export type StoredEvent = {
  event_type: string;
  event_name: string;
  properties: Record<string, unknown>;
  anonymous_id: string | null;
  message_id: string | null;
  ip: string | null;
  user_agent: string | null;
  timestamp: Date;
};

/** `user`'s analytics events, oldest first. */
export async function storedEvents(user: UserClaims): Promise<StoredEvent[]> {
  return [
    ...await asService((tx) =>
      tx<StoredEvent[]>`
        select event_type, event_name, properties, anonymous_id, message_id,
               host(ip_address) as ip, user_agent, "timestamp"
        from public.analytics_events where user_id = ${user.sub}
        order by "timestamp", event_type`
    ),
  ];
}

export type StoredLead = {
  id: string;
  score: number;
  source: string | null;
  first_name: string | null;
  custom_fields: Record<string, unknown>;
  event_points: number;
};

/** `user`'s lead with `email`, with the points its events earned (ledger), if it exists. */
export async function storedLead(
  user: UserClaims,
  email: string,
): Promise<StoredLead | undefined> {
  const [lead] = await asService((tx) =>
    tx<StoredLead[]>`
      select l.id, l.score, l.source, l.first_name, l.custom_fields,
             coalesce((select sum(g.points) from public.lead_score_ledger as g
                       where g.lead_id = l.id and g.source = 'event'), 0)::integer as event_points
      from public.leads as l
      where l.user_id = ${user.sub} and lower(l.email) = lower(${email})`
  );
  return lead;
}

/** A request the browser sent to collect, as `collectRecorder` saw it. */
export type RecordedRequest = {
  /** When it arrived (Date.now()). */
  at: number;
  /** sec-fetch-mode: "no-cors" for navigator.sendBeacon, "cors" for the snippet's fetch. */
  mode: string | null;
  contentType: string | null;
  body: { batch?: Record<string, unknown>[]; privacy_signal?: boolean };
};

/**
 * An HTTP server in front of the collect function (at `functionsUrl`) that passes every
 * request through unchanged and records what the browser sent: a page's snippet is pointed at
 * it with data-endpoint, so a test sees how the events were batched and sent.
 */
export function collectRecorder(functionsUrl: string) {
  const requests: RecordedRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.text();
      if (request.method === "POST") {
        requests.push({
          at: Date.now(),
          mode: request.headers.get("sec-fetch-mode"),
          contentType: request.headers.get("content-type"),
          body: JSON.parse(body),
        });
      }
      const headers = new Headers(request.headers);
      headers.delete("host");
      const answer = await fetch(`${functionsUrl}/collect`, {
        method: request.method,
        headers,
        body: request.method === "POST" ? body : undefined,
      });
      return new Response(answer.body, {
        status: answer.status,
        headers: answer.headers,
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/collect`,
    requests,
    close: () => server.shutdown(),
  };
}
