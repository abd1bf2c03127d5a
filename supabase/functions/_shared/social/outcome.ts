// What publishing one target to one platform can end in, and the HTTP every platform adapter
// shares: a call with a deadline, the platform's error message, and the mapping of an answer
// to an outcome. The dispatcher (supabase/functions/dispatch/social.ts) turns outcomes into
// queue results; only it knows about refreshing tokens and attempts.
import { describeError } from "../providers/oauth.ts";

/** A post on the platform: its id and, where the platform gives one, its public URL. */
export type Published = { id: string; url: string | null };

export type PublishOutcome =
  | ({ kind: "published" } & Published)
  /** Try again later; countAttempt false for rate limits (the platform said when). */
  | { kind: "retry"; afterSeconds: number; countAttempt: boolean; message: string }
  /** Permanent: the platform refused the post, with its reason. */
  | { kind: "failed"; message: string }
  /** The access token is expired or revoked: refresh once, then try again. */
  | { kind: "expired_token"; message: string }
  /** The post was sent but no answer came (timeout, 5xx): reconcile before any retry. */
  | { kind: "maybe_posted"; message: string };

/** Public counters of a post; a platform that does not give one leaves it out. */
export type PostMetrics = {
  likes?: number;
  replies?: number;
  reposts?: number;
  impressions?: number;
};

/** Who posts, what, as which account, and since when. */
export type PublishTarget = {
  accessToken: string;
  /** The platform's id of the connected user (X user, LinkedIn member, Instagram account). */
  platformUserId: string;
  /** A Facebook page or LinkedIn organisation, else the user's own account. */
  accountId: string | null;
  text: string;
  mediaUrls: string[];
  /** When this publishing round's first attempt started, before anything was sent. */
  firstAttemptAt: Date;
};

export type MetricsTarget = Omit<PublishTarget, "text" | "mediaUrls" | "firstAttemptAt"> & {
  postId: string;
};

export interface Publisher {
  publish(target: PublishTarget): Promise<PublishOutcome>;
  /** The account's recent post that isSamePost takes for `target`, if any. */
  findRecent(target: PublishTarget): Promise<Published | undefined | PublishOutcome>;
  metrics(target: MetricsTarget): Promise<PostMetrics | PublishOutcome>;
}

export const isOutcome = (value: unknown): value is PublishOutcome =>
  typeof value === "object" && value !== null && "kind" in value;

/** How far behind ours the platform's clock may be when it stamps a post's creation time. */
export const CLOCK_SKEW_MS = 2 * 60_000;

/** A platform's creation time (epoch ms, or ISO 8601 with Graph's "+0000" offsets) in ms. */
const epochMs = (value: unknown): number =>
  typeof value === "number"
    ? value
    : typeof value === "string"
    ? Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, "$1:$2"))
    : NaN;

/**
 * True when a recent post is the one `target` describes: its exact text, created at or after
 * the round's first attempt (less CLOCK_SKEW_MS). The text alone would take an older identical
 * post for ours and skip publishing; a post without a readable creation time is not ours.
 */
export const isSamePost = (
  target: PublishTarget,
  post: { text: unknown; createdAt: unknown },
) =>
  typeof post.text === "string" && post.text === target.text &&
  epochMs(post.createdAt) >= target.firstAttemptAt.getTime() - CLOCK_SKEW_MS;

export type Answer = { status: number; headers: Headers; body: unknown };

/** An HTTP call that never throws: the answer, or why none came. */
export async function call(
  url: string | URL,
  init: RequestInit,
  timeoutMs: number,
): Promise<Answer | { lost: string }> {
  try {
    const response = await fetch(url, {
      ...init,
      headers: { accept: "application/json", ...init.headers },
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      // not JSON: described by its status
    }
    return { status: response.status, headers: response.headers, body };
  } catch (err) {
    const name = (err as Error).name;
    return {
      lost: name === "TimeoutError"
        ? `no answer within ${timeoutMs / 1000}s`
        : `the request failed: ${(err as Error).message}`,
    };
  }
}

/** The platform's own words for a failed answer. */
export const platformMessage = (platform: string, answer: Answer) =>
  `${platform} answered ${answer.status}: ${describeError(answer.body) ?? "no reason given"}`
    .slice(0, 900);

/** Seconds until a Unix time in seconds, at least 1. */
/** Waits between a platform's processing checks (X media, Instagram containers). */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const secondsUntil = (epochSeconds: number, now = Date.now()) =>
  Math.max(1, Math.ceil(epochSeconds - now / 1000));

/** A transient failure: counts as an attempt, retried after 30 seconds. */
export const transient = (message: string): PublishOutcome => ({
  kind: "retry",
  afterSeconds: 30,
  countAttempt: true,
  message,
});

/**
 * The outcome of a failed or lost answer. `sent`: the request itself creates the post, so a
 * lost answer or a 5xx may mean it exists (maybe_posted); before that step (media uploads,
 * containers) the same is a plain retry. `rateLimitSeconds` reads the platform's headers.
 */
export function failure(
  platform: string,
  answer: Answer | { lost: string },
  options: { sent: boolean; rateLimitSeconds: (answer: Answer) => number },
): PublishOutcome {
  if ("lost" in answer) {
    const message = `${platform}: ${answer.lost}`;
    return options.sent ? { kind: "maybe_posted", message } : transient(message);
  }
  const message = platformMessage(platform, answer);
  if (answer.status === 401) return { kind: "expired_token", message };
  if (answer.status === 429) {
    return {
      kind: "retry",
      afterSeconds: options.rateLimitSeconds(answer),
      countAttempt: false,
      message,
    };
  }
  if (answer.status >= 500 || answer.status === 408) {
    return options.sent ? { kind: "maybe_posted", message } : transient(message);
  }
  return { kind: "failed", message };
}

const pick = (body: unknown, path: string[]): unknown =>
  path.reduce<unknown>(
    (value, key) =>
      typeof value === "object" && value !== null
        ? (value as Record<string, unknown>)[key]
        : undefined,
    body,
  );

/** A JSON object's string field at `path`, or undefined. */
export const text = (body: unknown, ...path: string[]): string | undefined => {
  const value = pick(body, path);
  return typeof value === "string" ? value : undefined;
};

/** A JSON object's number field at `path`, or undefined. */
export const count = (body: unknown, ...path: string[]): number | undefined => {
  const value = pick(body, path);
  return typeof value === "number" ? value : undefined;
};

/** A 2xx answer whose `field` is missing: the platform broke its contract, retry later. */
export const malformed = (platform: string, what: string): PublishOutcome =>
  transient(`${platform}: ${what} came back without the expected fields`);
