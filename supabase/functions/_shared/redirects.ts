// Where a public function may send the browser: the OAuth callback back to the app
// (BEACON_OAUTH_REDIRECT_ALLOWLIST), a form post to its success or confirm page
// (BEACON_FORMS_REDIRECT_ALLOWLIST). An allow-list names origins (https://app.example.com) or
// URL prefixes (https://example.com/app/); a redirect_to is allowed when its origin equals an
// entry's exactly and its path sits under the entry's path. Everything is compared after
// WHATWG URL parsing (which resolves "..", lower-cases hosts and punycodes them), and anything
// carrying credentials (user:pass@), whitespace, control characters or backslashes is refused
// outright, so no open redirect slips through.

export type RedirectRule = { origin: string; path: string };

const MAX_LENGTH = 2048;
// deno-lint-ignore no-control-regex
const SUSPICIOUS = /[\u0000-\u0020\u007f\\]/;
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Plain http on this machine (the local stack), where cookies cannot be Secure. */
export const isLoopbackHttp = (url: URL) => url.protocol === "http:" && LOOPBACK.has(url.hostname);

function parseHttpUrl(text: string): URL | undefined {
  if (text.length > MAX_LENGTH || SUSPICIOUS.test(text)) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  if (url.username || url.password) return undefined;
  return url;
}

/** Parses the allow-list; throws naming the first entry that is not a usable origin/prefix. */
export function parseAllowlist(spec: string): RedirectRule[] {
  const entries = spec.split(",").map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error("the list is empty");
  return entries.map((entry) => {
    const url = parseHttpUrl(entry);
    if (
      !url || url.search || url.hash || entry.includes("#") ||
      entry.includes("?")
    ) {
      throw new Error(
        `"${entry}" must be an http(s) origin or URL prefix without query or fragment`,
      );
    }
    if (url.protocol === "http:" && !isLoopbackHttp(url)) {
      throw new Error(`"${entry}" must use https (http is only for localhost)`);
    }
    return {
      origin: url.origin,
      path: url.pathname === "/" ? "" : url.pathname,
    };
  });
}

const underPath = (path: string, prefix: string) =>
  prefix === "" || path === prefix ||
  path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`);

/** The normalised URL when `candidate` is allowed, else undefined. */
export function allowedRedirect(
  rules: RedirectRule[],
  candidate: string,
): URL | undefined {
  const url = parseHttpUrl(candidate);
  if (!url) return undefined;
  return rules.some((rule) => url.origin === rule.origin && underPath(url.pathname, rule.path))
    ? url
    : undefined;
}

/** `target` with `params` added to its query (replacing any of the same name). */
export function withParams(
  target: string,
  params: Record<string, string>,
): string {
  const url = new URL(target);
  for (const [name, value] of Object.entries(params)) {
    url.searchParams.set(name, value);
  }
  return url.href;
}
