// Was an open or a click made by a person or by a machine? Machines are counted (opened_at,
// clicked_at) but not as human engagement (human_opened_at, human_clicked_at):
//
//  - Apple Mail Privacy Protection fetches every image of a message through Apple's proxies
//    when it reaches the device, whether or not anyone reads it: a bare `Mozilla/5.0` user
//    agent, from Apple's 17.0.0.0/8 network.
//  - Image proxies (Gmail's GoogleImageProxy, Yahoo's YahooMailProxy) fetch on the reader's
//    behalf, cache, and hide who and when.
//  - Security gateways and link scanners (Microsoft Safe Links, Mimecast, Proofpoint,
//    Barracuda...) open or follow every link as the message arrives: within seconds of
//    delivery, often with HEAD, often with a library's or a headless browser's user agent.

export type Interaction = {
  kind: "open" | "click";
  at: Date;
  userAgent?: string | null;
  ip?: string | null;
  /** The HTTP method of the request (HEAD is a probe, never a person). */
  method?: string;
  /** When the message was handed to the provider, and when it reached the mailbox. */
  sentAt?: Date | null;
  deliveredAt?: Date | null;
};

export type Verdict = { machine: boolean; reason?: string };

/** An open or click this soon after delivery (or sending, before delivery is known). */
const MACHINE_WINDOW_SECONDS = 10;

const PROXIES: [RegExp, string][] = [
  [/GoogleImageProxy/i, "google_image_proxy"],
  [/YahooMailProxy/i, "yahoo_image_proxy"],
];

const SCANNERS =
  /bot\b|bot\/|crawler|spider|scanner|preview|python-requests|python-urllib|aiohttp|curl\/|wget\/|go-http-client|java\/|okhttp|node-fetch|axios\/|libwww|headlesschrome|phantomjs|barracuda|mimecast|proofpoint|symantec|trendmicro|forcepoint|safelinks|linkchecker/i;

/** Whether an IPv4 address is in Apple's 17.0.0.0/8 (including IPv4-mapped IPv6). */
const appleNetwork = (ip: string) => /^(::ffff:)?17\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(ip);

export function classify(event: Interaction): Verdict {
  const agent = event.userAgent?.trim() ?? "";
  if (event.method?.toUpperCase() === "HEAD") {
    return { machine: true, reason: "head_request" };
  }
  if (event.kind === "open" && agent === "Mozilla/5.0") {
    return { machine: true, reason: "apple_mail_privacy_protection" };
  }
  if (event.kind === "open" && event.ip && appleNetwork(event.ip)) {
    return { machine: true, reason: "apple_mail_privacy_protection" };
  }
  for (const [pattern, reason] of PROXIES) {
    if (pattern.test(agent)) return { machine: true, reason };
  }
  if (event.userAgent !== undefined && agent === "") {
    return { machine: true, reason: "no_user_agent" };
  }
  if (SCANNERS.test(agent)) {
    return { machine: true, reason: "scanner_user_agent" };
  }
  const since = event.deliveredAt ?? event.sentAt;
  if (since) {
    const seconds = (event.at.getTime() - since.getTime()) / 1000;
    if (seconds < MACHINE_WINDOW_SECONDS) {
      return {
        machine: true,
        reason: `within_${MACHINE_WINDOW_SECONDS}s_of_delivery`,
      };
    }
  }
  return { machine: false };
}
