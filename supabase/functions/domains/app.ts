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
import { createResendDomains, ResendDomainError } from "../_shared/providers/resend_domains.ts";
import {
  deleteDomain,
  domainById,
  domainHolder,
  type DomainRow,
  insertDomain,
  recordCheck,
} from "./queries.ts";

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

const view = (row: DomainRow) => ({
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

  app.post("/", requireUser, async (c) => {
    const user = c.get("user");
    const { domain } = await readJson(c, Body);
    const taken = async () => {
      const row = await asService((tx) => domainHolder(tx, domain));
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
    let row: DomainRow;
    try {
      row = await asService((tx) => insertDomain(tx, user.sub, domain, resendDomain));
    } catch (err) {
      if ((err as { code?: string }).code === "23505") await taken();
      throw err;
    }
    return c.json(view(row), 201);
  });

  /** The caller's domain named in the path (RLS: another owner's is not there). */
  async function ownDomain(user: UserClaims, id: string): Promise<DomainRow> {
    const row = await asUser(user, (tx) => domainById(tx, id));
    if (!row?.provider_domain_id) {
      throw new HttpError(
        404,
        "not_found",
        `You have no sending domain ${id}.`,
      );
    }
    return row;
  }

  app.delete("/:id", requireUser, async (c) => {
    const row = await ownDomain(c.get("user"), readParams(c, Params).id);
    await ask(() => client().remove(row.provider_domain_id!));
    await asService((tx) => deleteDomain(tx, row.id));
    return c.body(null, 204);
  });

  app.post("/:id/verify", requireUser, async (c) => {
    const row = await ownDomain(c.get("user"), readParams(c, Params).id);
    const checked = await ask(() => client().verify(row.provider_domain_id!));
    return c.json(
      view(await asService((tx) => recordCheck(tx, row.id, checked))),
    );
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
