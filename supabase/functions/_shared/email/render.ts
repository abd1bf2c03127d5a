// One recipient's message from a campaign: merge tags filled in, an HTML and a text part,
// links in the HTML rewritten to signed click-tracking URLs, an open pixel, and what the law
// and the mailbox providers ask of bulk mail: a visible unsubscribe link, the sender's postal
// address, and the RFC 8058 one-click `List-Unsubscribe` headers.
//
// Rendering is deterministic (same input, same bytes), so a replayed send carries the same
// payload under the same idempotency key.
import { escapeHtml, htmlToText, looksLikeHtml, textToHtml, unescapeHtml } from "./html.ts";
import { merge, type MergeRecipient } from "./merge.ts";
import type { TrackingSettings } from "./settings.ts";
import { signToken } from "./tokens.ts";

/** One delivery as the queue hands it out (the campaign's fields beside the recipient's). */
export type MessageInput = MergeRecipient & {
  delivery_id: string;
  email_campaign_id: string;
  subject: string;
  content: string;
  from_email?: string | null;
  from_name?: string | null;
  reply_to?: string | null;
};

export type RenderOptions = {
  tracking: TrackingSettings;
  /** The default sender when the campaign names none: `Name <address>` or an address. */
  defaultFrom: string;
  postalAddress: string;
};

export type RenderedMessage = {
  deliveryId: string;
  campaignId: string;
  from: string;
  to: string;
  replyTo?: string;
  subject: string;
  html: string;
  text: string;
  /** List-Unsubscribe and List-Unsubscribe-Post. */
  headers: Record<string, string>;
  unsubscribeUrl: string;
};

/** Splits `Name <address>` (or a bare address) into its parts. */
export function parseMailbox(
  mailbox: string,
): { name?: string; address: string } {
  const match = /^\s*(.*?)\s*<([^<>]+)>\s*$/.exec(mailbox);
  if (!match) return { address: mailbox.trim() };
  const name = match[1].replace(/^"(.*)"$/, "$1").trim();
  return name ? { name, address: match[2].trim() } : { address: match[2].trim() };
}

/** A display name safe in a header: no line breaks or angle brackets; quoted if needed. */
function displayName(name: string): string {
  const clean = name.replace(/[\r\n<>"\\]/g, " ").replace(/\s+/g, " ").trim();
  return /[(),.:;@[\]]/.test(clean) ? `"${clean}"` : clean;
}

export function fromHeader(input: MessageInput, defaultFrom: string): string {
  const fallback = parseMailbox(defaultFrom);
  const address = input.from_email?.trim() || fallback.address;
  const name = input.from_name?.trim() ||
    (input.from_email ? undefined : fallback.name);
  return name ? `${displayName(name)} <${address}>` : address;
}

/** A subject on one line: merge tags filled in, control characters gone. */
const oneLine = (text: string) => text.replace(/\p{Cc}+/gu, " ").replace(/\s+/g, " ").trim();

const HREF = /(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2/gi;

/** Rewrites every http(s) link of the HTML part to its signed click-tracking URL. */
function trackLinks(
  html: string,
  deliveryId: string,
  tracking: TrackingSettings,
  keep: string,
): string {
  const replacements = new Map<string, string>();
  for (const match of html.matchAll(HREF)) {
    const target = unescapeHtml(match[3]).trim();
    if (
      !/^https?:\/\//i.test(target) || target === keep ||
      replacements.has(target)
    ) continue;
    const token = signToken(tracking.key, "click", deliveryId, target);
    replacements.set(
      target,
      `${tracking.baseUrl}/click/${token}?u=${encodeURIComponent(target)}`,
    );
  }
  return html.replace(
    HREF,
    (all, start: string, quote: string, href: string) => {
      const tracked = replacements.get(unescapeHtml(href).trim());
      return tracked ? `${start}${quote}${escapeHtml(tracked)}${quote}` : all;
    },
  );
}

/** Puts `addition` before `</body>` when the HTML has one, else at the end. */
function beforeBodyEnd(html: string, addition: string): string {
  const at = html.search(/<\/body\s*>(?![\s\S]*<\/body\s*>)/i);
  return at < 0 ? `${html}\n${addition}` : `${html.slice(0, at)}${addition}\n${html.slice(at)}`;
}

export function renderMessage(
  input: MessageInput,
  options: RenderOptions,
): RenderedMessage {
  const { tracking } = options;
  const deliveryId = input.delivery_id;
  const unsubscribeUrl = `${tracking.baseUrl}/unsubscribe/${
    signToken(
      tracking.key,
      "unsubscribe",
      deliveryId,
    )
  }`;
  const openUrl = `${tracking.baseUrl}/open/${signToken(tracking.key, "open", deliveryId)}`;
  const extras = { unsubscribe_url: unsubscribeUrl };
  const from = fromHeader(input, options.defaultFrom);
  const sender = parseMailbox(from).name ?? parseMailbox(from).address;

  let html: string;
  let text: string;
  if (looksLikeHtml(input.content)) {
    html = merge(input.content, input, escapeHtml, extras);
    text = htmlToText(html);
  } else {
    text = merge(input.content, input, (value) => value, extras).trim();
    html = textToHtml(text);
  }

  const postal = options.postalAddress;
  const footerHtml = [
    `<div style="margin-top:32px;font-size:12px;line-height:1.5;color:#6b7280">`,
    `<p>You receive this email from ${escapeHtml(sender)}. ` +
    `<a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a></p>`,
    `<p>${escapeHtml(postal).replaceAll("\n", "<br>")}</p>`,
    `</div>`,
    `<img src="${escapeHtml(openUrl)}" width="1" height="1" alt="" ` +
    `style="display:block;width:1px;height:1px;border:0">`,
  ].join("\n");
  html = beforeBodyEnd(
    trackLinks(html, deliveryId, tracking, unsubscribeUrl),
    footerHtml,
  );
  text = `${text}\n\n--\nYou receive this email from ${sender}.\nUnsubscribe: ${unsubscribeUrl}\n` +
    `${postal}\n`;

  return {
    deliveryId,
    campaignId: input.email_campaign_id,
    from,
    to: input.email,
    replyTo: input.reply_to?.trim() || undefined,
    subject: oneLine(merge(input.subject, input, (value) => value, extras)),
    html,
    text,
    headers: {
      "List-Unsubscribe": `<${unsubscribeUrl}>`,
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
    unsubscribeUrl,
  };
}
