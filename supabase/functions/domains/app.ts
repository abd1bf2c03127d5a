// domains: an owner's sending domains. With the platform's Resend key an owner sends only from
// a domain they have verified (public.sending_domains; checked when a campaign is scheduled
// and when a workflow is written). This function registers the domain with Resend under the
// platform's key and asks Resend to verify it; the owner publishes the DNS records between.
//
//   POST /functions/v1/domains               {"domain": "news.acme.com"}
//        → 201 {"id", "domain", "status": "not_started", "records": [...DNS records to publish]}
//        → 409 the domain is registered already (by this owner: verify it instead)
//   POST /functions/v1/domains/{id}/verify
//        → 200 {"id", "domain", "status", "records"}: verified once Resend sees the records;
//          pending while Resend is still looking (ask again later)
//        → 404 not one of the caller's domains
//   DELETE /functions/v1/domains/{id}   → 204: removed from Resend and from sending_domains
//          (campaigns already scheduled from it fail at send time); 404 as above
//   both → 502 Resend refused or could not be reached (its message); 503 no platform
//          RESEND_API_KEY (an owner with their own key needs no domain here)
//
// Owners read their domains from the sending_domains table.
import { z } from "zod";
import { requireUser } from "../_shared/auth.ts";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import { readEnv } from "../_shared/env.ts";
import { createApp, HttpError, readJson, readParams } from "../_shared/http.ts";
import {
  createResendDomains,
  type ResendDomain,
  ResendDomainError,
} from "../_shared/providers/resend_domains.ts";

const DOMAIN = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

const Body = z.object({
  domain: z.string().trim().toLowerCase().max(
    253,
    "must be at most 253 characters",
  ).regex(
    DOMAIN,
    "must be a domain name such as news.acme.com (no scheme, no @, no path)",
  ),
});

const Params = z.object({
  id: z.uuid("must be the id of one of your sending_domains"),
});

type Row = {
  id: string;
  domain: string;
  status: string;
  records: unknown[];
  provider_domain_id: string | null;
};

const view = (row: Row) => ({
  id: row.id,
  domain: row.domain,
  status: row.status,
  records: row.records,
});

export function createDomainsApp(resend: { apiKey?: string; baseUrl: string }) {
  const app = createApp("domains");

  function client() {
    if (!resend.apiKey) {
      throw new HttpError(
        503,
        "no_platform_key",
        "Sending domains are verified with the platform's RESEND_API_KEY, which is not set here. " +
          "Store your own RESEND_API_KEY (PUT /functions/v1/secrets/RESEND_API_KEY) to send from your own Resend account.",
      );
    }
    return createResendDomains({
      apiKey: resend.apiKey,
      baseUrl: resend.baseUrl,
    });
  }

  async function ask<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof ResendDomainError) {
        throw new HttpError(502, "resend_error", err.message);
      }
      throw err;
    }
  }

  /** Writes what Resend said about the domain (system-owned columns: as the service). */
  const record = (id: string, domain: ResendDomain) =>
    asService(async (tx) => {
      const [row] = await tx<Row[]>`
        update public.sending_domains
        set status = ${domain.status},
            records = ${tx.json(domain.records as never)},
            verified_at = case when ${domain.status} = 'verified' then coalesce(verified_at, now())
                               else verified_at end,
            checked_at = now()
        where id = ${id}
        returning id, domain, status, records, provider_domain_id`;
      return row;
    });

  app.post("/", requireUser, async (c) => {
    const user = c.get("user");
    const { domain } = await readJson(c, Body);
    const taken = async () => {
      const [row] = await asService((tx) =>
        tx<{ id: string; user_id: string }[]>`
          select id, user_id from public.sending_domains where domain = ${domain}`
      );
      if (!row) return;
      throw new HttpError(
        409,
        "domain_taken",
        row.user_id === user.sub
          ? `You added ${domain} already: publish its DNS records, then POST /functions/v1/domains/${row.id}/verify.`
          : `${domain} is registered as a sending domain already; contact support if it is yours.`,
      );
    };
    await taken();
    const resendDomain = await ask(() => client().create(domain));
    let row: Row;
    try {
      [row] = await asService((tx) =>
        tx<Row[]>`
          insert into public.sending_domains
            (user_id, domain, status, provider_domain_id, records, checked_at)
          values (${user.sub}, ${domain}, ${resendDomain.status}, ${resendDomain.id},
                  ${tx.json(resendDomain.records as never)}, now())
          returning id, domain, status, records, provider_domain_id`
      );
    } catch (err) {
      if ((err as { code?: string }).code === "23505") await taken();
      throw err;
    }
    return c.json(view(row), 201);
  });

  /** The caller's domain named in the path (RLS: another owner's is not there). */
  async function ownDomain(user: UserClaims, id: string): Promise<Row> {
    const [row] = await asUser(
      user,
      (tx) =>
        tx<Row[]>`
        select id, domain, status, records, provider_domain_id
        from public.sending_domains where id = ${id}`,
    );
    if (!row?.provider_domain_id) {
      throw new HttpError(404, "not_found", `You have no sending domain ${id}.`);
    }
    return row;
  }

  app.delete("/:id", requireUser, async (c) => {
    const row = await ownDomain(c.get("user"), readParams(c, Params).id);
    await ask(() => client().remove(row.provider_domain_id!));
    await asService((tx) => tx`delete from public.sending_domains where id = ${row.id}`);
    return c.body(null, 204);
  });

  app.post("/:id/verify", requireUser, async (c) => {
    const row = await ownDomain(c.get("user"), readParams(c, Params).id);
    const checked = await ask(() => client().verify(row.provider_domain_id!));
    return c.json(view(await record(row.id, checked)));
  });

  return app;
}

const env = readEnv({
  RESEND_API_KEY: z.string().trim().min(1).optional(),
  RESEND_API_URL: z.url({ protocol: /^https?$/ }).default(
    "https://api.resend.com",
  ),
});

export const app = createDomainsApp({
  apiKey: env.RESEND_API_KEY,
  baseUrl: env.RESEND_API_URL,
});
