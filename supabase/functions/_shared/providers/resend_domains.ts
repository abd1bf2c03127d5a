// Resend's domains API, the part Beacon uses to let an owner send from their own domain with
// the platform's key:
//
//   POST {base}/domains              {"name": "news.acme.com"}
//        200 {"id", "name", "status": "not_started", "records": [...], "region", "created_at"}
//   POST {base}/domains/{id}/verify  200 {"object": "domain", "id"}   (Resend checks DNS, async)
//   GET  {base}/domains/{id}         200 {"object": "domain", "id", "name", "status", "records", ...}
//   DELETE {base}/domains/{id}       200 {"object": "domain", "id", "deleted": true}
//   errors: {"statusCode", "name", "message"} (401/403 key, 404 not_found, 422 validation_error)
//
// A record: {"record": "SPF" | "DKIM", "name", "type": "MX" | "TXT" | "CNAME", "ttl", "status",
// "value", "priority"?}. Statuses: not_started, pending, verified, partially_verified,
// partially_failed, failed, temporary_failure.
import { z } from "zod";

const TIMEOUT_MS = 15_000;

const DnsRecord = z.looseObject({
  record: z.string(),
  name: z.string(),
  type: z.string(),
  value: z.string(),
  ttl: z.union([z.string(), z.number()]).optional(),
  status: z.string().optional(),
  priority: z.number().optional(),
});

const Domain = z.looseObject({
  id: z.string().min(1).max(200),
  name: z.string(),
  status: z.enum([
    "not_started",
    "pending",
    "verified",
    "partially_verified",
    "partially_failed",
    "failed",
    "temporary_failure",
  ]),
  records: z.array(DnsRecord).default([]),
});
export type ResendDomain = z.output<typeof Domain>;

/** Resend refused or could not be reached; `status` is Resend's (undefined: no answer). */
export class ResendDomainError extends Error {
  constructor(readonly status: number | undefined, message: string) {
    super(message);
    this.name = "ResendDomainError";
  }
}

export function createResendDomains(
  options: { apiKey: string; baseUrl: string },
) {
  const base = `${options.baseUrl.replace(/\/+$/, "")}/domains`;

  async function call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          "content-type": "application/json",
          "user-agent": "beacon-domains",
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new ResendDomainError(
        undefined,
        `Resend could not be reached: ${err instanceof Error ? err.message : err}`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const { name, message } = (json ?? {}) as {
        name?: string;
        message?: string;
      };
      throw new ResendDomainError(
        response.status,
        `Resend answered ${response.status}${name ? ` ${name}` : ""}: ${
          message ?? (text.slice(0, 300) || "no message")
        }`,
      );
    }
    return json;
  }

  async function domain(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<ResendDomain> {
    const parsed = Domain.safeParse(await call(method, path, body));
    if (!parsed.success) {
      throw new ResendDomainError(
        200,
        "Resend answered with an unexpected domain body",
      );
    }
    return parsed.data;
  }

  return {
    /** Registers `name`; Resend answers with the DNS records to publish. */
    create: (name: string) => domain("POST", "", { name }),
    /** Removes the domain from Resend; one Resend no longer has counts as removed. */
    async remove(id: string): Promise<void> {
      try {
        await call("DELETE", `/${encodeURIComponent(id)}`);
      } catch (err) {
        if (!(err instanceof ResendDomainError && err.status === 404)) throw err;
      }
    },
    /** Asks Resend to check the DNS records now, then reads the domain's status. */
    async verify(id: string): Promise<ResendDomain> {
      await call("POST", `/${encodeURIComponent(id)}/verify`);
      return await domain("GET", `/${encodeURIComponent(id)}`);
    },
  };
}
