// Reaching a webhook receiver without reaching inside: the receiver's host is resolved once,
// every address it resolves to is checked (addresses.ts), and the POST connects to those
// checked addresses only (node:https with a `lookup` that answers them, so nothing resolves
// the name a second time), while the Host header, TLS SNI and certificate verification keep
// the URL's own host name. Fetch cannot be pinned like this: it resolves the name itself.
//
// Only the status and headers of the answer are read; the body is never read, so nothing a
// receiver writes can end up in rows its owner reads.
import { lookup } from "node:dns/promises";
import https from "node:https";
import type { LookupFunction } from "node:net";
import tls from "node:tls";
import { isIpAddress, reservedRange } from "./addresses.ts";

export type ResolvedAddress = { address: string; family: 4 | 6 };

/** Resolves a host name to its addresses (A and AAAA); the tests inject their own. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system's resolver (getaddrinfo: /etc/hosts, then DNS), as the operating system sees it. */
export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, order: "verbatim" })).map((
    { address, family },
  ) => ({
    address,
    family: family === 6 ? 6 : 4,
  }));

/** Where a receiver may be reached, or why not (`retry`: the problem may pass, e.g. DNS). */
export type Destination =
  | { addresses: ResolvedAddress[] }
  | { problem: string; retry: boolean };

const PUBLIC_ONLY = "webhooks go to public hosts only";

/** The URL's host without IPv6 brackets or a trailing dot, lower-cased. */
export const bareHost = (url: URL) =>
  url.hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");

/**
 * The addresses to send `url`'s webhook to: a literal address as it is, a name resolved once.
 * Unless `allowPrivate`, a localhost name or any reserved address among them refuses the
 * whole URL (one private address among public ones is enough to refuse it). A name that does
 * not resolve within `timeoutMs` counts as one that does not resolve.
 */
export async function resolveReceiver(
  url: URL,
  resolve: Resolver,
  allowPrivate: boolean,
  timeoutMs = 10_000,
): Promise<Destination> {
  const host = bareHost(url);
  if (!allowPrivate && (host === "localhost" || host.endsWith(".localhost"))) {
    return {
      problem: `${host} is a loopback name: ${PUBLIC_ONLY}`,
      retry: false,
    };
  }
  if (isIpAddress(host)) {
    const range = allowPrivate ? null : reservedRange(host);
    return range
      ? {
        problem: `${host} is a reserved address (${range}): ${PUBLIC_ONLY}`,
        retry: false,
      }
      : { addresses: [{ address: host, family: host.includes(":") ? 6 : 4 }] };
  }
  let addresses: ResolvedAddress[];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    addresses = await Promise.race([
      resolve(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ReceiverTimeout(timeoutMs)), timeoutMs);
      }),
    ]);
  } catch {
    addresses = [];
  } finally {
    clearTimeout(timer);
  }
  if (addresses.length === 0) {
    return {
      problem: `${host} could not be resolved to an address`,
      retry: true,
    };
  }
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const range = reservedRange(address);
      if (range) {
        return {
          problem: `${host} resolves to a reserved address (${range}): ${PUBLIC_ONLY}`,
          retry: false,
        };
      }
    }
  }
  return { addresses };
}

export type PinnedPost = {
  url: URL;
  addresses: ResolvedAddress[];
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** The certificate authorities to trust; the runtime's bundled roots when undefined. */
  ca?: string[];
};

/** The runtime's root certificates plus `extra` (node:tls's `ca` replaces the roots). */
export const trustedCas = (extra: string[]) =>
  extra.length ? [...tls.rootCertificates, ...extra] : undefined;

/** An answer's status and headers; its body is discarded unread. */
export type ReceiverAnswer = { status: number; headers: Headers };

/** Thrown when the receiver does not answer within the timeout. */
export class ReceiverTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/** POSTs `body` to `url` over a connection to one of `addresses`, never following redirects. */
export function postPinned(post: PinnedPost): Promise<ReceiverAnswer> {
  const { url, addresses } = post;
  const host = bareHost(url);
  // The addresses checked before, whatever name is asked: no second resolution.
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0].address, addresses[0].family);
  };
  return new Promise((resolve, reject) => {
    const request = https.request({
      host,
      port: url.port ? Number(url.port) : 443,
      path: `${url.pathname}${url.search}`,
      method: "POST",
      // SNI names a host, never an address (RFC 6066); an address is verified as itself.
      ...(isIpAddress(host) ? {} : { servername: host }),
      headers: {
        ...post.headers,
        host: url.host,
        "content-length": String(new TextEncoder().encode(post.body).length),
      },
      agent: false,
      ca: post.ca,
      lookup: pinned,
    }, (response) => {
      clearTimeout(timer);
      const headers = new Headers();
      const raw = response.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        try {
          headers.append(raw[i], raw[i + 1]);
        } catch {
          // A header the Fetch standard refuses is not one we read.
        }
      }
      response.destroy();
      resolve({ status: response.statusCode ?? 0, headers });
    });
    const timer = setTimeout(
      () => request.destroy(new ReceiverTimeout(post.timeoutMs)),
      post.timeoutMs,
    );
    request.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.end(post.body);
  });
}

/**
 * A fixed reason for a failed connection, naming the host but quoting nothing the far end
 * sent (a certificate's names, say).
 */
export function connectionProblem(
  err: unknown,
  url: URL,
  timeoutMs: number,
): string {
  const host = bareHost(url);
  const { name, code, message } = err as {
    name?: string;
    code?: string;
    message?: string;
  };
  if (name === "TimeoutError") {
    return `no answer from ${url.href} within ${timeoutMs / 1000} s`;
  }
  if (code === "ECONNREFUSED") return `${host} refused the connection`;
  if (code === "ECONNRESET" || code === "EPIPE") {
    return `the connection to ${host} was cut`;
  }
  if (
    code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "ETIMEDOUT"
  ) {
    return `${host} is unreachable`;
  }
  if (/CERT|TLS|SSL|SIGNATURE|ALTNAME/i.test(`${code} ${message}`)) {
    return `${host}'s TLS certificate is not trusted or not issued for ${host}`;
  }
  return `could not reach ${url.href}`;
}
