// Who is on the other end of a tracking request: its user agent and IP address as the
// gateway passes them (X-Forwarded-For's first hop on Supabase), validated so only a real
// address reaches analytics_events.ip_address (an inet column).
import { z } from "zod";

const IP = z.union([z.ipv4(), z.ipv6()]);

/** The address if `text` is an IPv4 or IPv6 address, else undefined. */
export function validIp(text: string | null | undefined): string | undefined {
  const candidate = text?.trim();
  return candidate && IP.safeParse(candidate).success ? candidate : undefined;
}

export type Client = { userAgent: string | null; ip?: string };

export function requestClient(headers: Headers): Client {
  const forwarded = headers.get("x-forwarded-for")?.split(",")[0];
  return {
    userAgent: headers.get("user-agent")?.slice(0, 1000) ?? null,
    ip: validIp(forwarded) ?? validIp(headers.get("x-real-ip")) ??
      validIp(headers.get("cf-connecting-ip")),
  };
}
