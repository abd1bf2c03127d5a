// Who is on the other end of a public request: its user agent, and its IP address from the one
// header the deployment's proxy sets (BEACON_CLIENT_IP_HEADER, see _shared/rate_limit.ts), never
// from a header the client may write itself: the address goes into consent records and
// analytics_events.ip_address (an inet column), so it is validated too.
import { z } from "zod";

const IP = z.union([z.ipv4(), z.ipv6()]);

/** The address if `text` is an IPv4 or IPv6 address, else undefined. */
export function validIp(text: string | null | undefined): string | undefined {
  const candidate = text?.trim();
  return candidate && IP.safeParse(candidate).success ? candidate : undefined;
}

export type Client = { userAgent: string | null; ip?: string };

/** The client's address from `header` (a list's right-most entry), if it is an address. */
export function clientAddress(headers: Headers, header: string): string | undefined {
  return validIp(headers.get(header)?.split(",").at(-1));
}

/** The caller of a request whose proxy puts the client's address in `ipHeader`. */
export function requestClient(headers: Headers, ipHeader: string): Client {
  return {
    userAgent: headers.get("user-agent")?.slice(0, 1000) ?? null,
    ip: clientAddress(headers, ipHeader),
  };
}
