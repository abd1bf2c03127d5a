// The HTML and plain-text parts of a message from one body: an author writes either HTML or
// plain text; the other part is derived (text from HTML keeps link targets readable; HTML from
// text escapes it, keeps paragraphs and line breaks, and turns bare URLs into links).

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
};

export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  )
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/** Decodes character references (named basics, decimal and hex). */
export function unescapeHtml(text: string): string {
  return text.replace(
    /&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi,
    (entity, body: string) => {
      if (body[0] === "#") {
        const code = body[1] === "x" || body[1] === "X"
          ? parseInt(body.slice(2), 16)
          : parseInt(body.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
      }
      return ENTITIES[body.toLowerCase()] ?? entity;
    },
  );
}

/** Whether a body is HTML (has an element tag) rather than plain text. */
export const looksLikeHtml = (body: string) => /<([a-z][a-z0-9]*)\b[^>]*>/i.test(body);

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

/** Plain text as HTML: escaped, blank lines as paragraphs, line breaks kept, URLs linked. */
export function textToHtml(text: string): string {
  const paragraphs = text.replace(/\r\n?/g, "\n").trim().split(/\n{2,}/);
  return paragraphs.map((paragraph) => {
    const parts: string[] = [];
    let last = 0;
    for (const match of paragraph.matchAll(URL_IN_TEXT)) {
      parts.push(escapeHtml(paragraph.slice(last, match.index)));
      const url = escapeHtml(match[0]);
      parts.push(`<a href="${url}">${url}</a>`);
      last = match.index + match[0].length;
    }
    parts.push(escapeHtml(paragraph.slice(last)));
    return `<p>${parts.join("").replaceAll("\n", "<br>\n")}</p>`;
  }).join("\n");
}

/** A readable text part from HTML: block elements become line breaks, links keep targets. */
export function htmlToText(html: string): string {
  let text = html
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<(head|style|script|title)\b[\s\S]*?<\/\1\s*>/gi, "")
    .replace(
      /<a\b[^>]*?\bhref\s*=\s*(["'])(.*?)\1[^>]*>([\s\S]*?)<\/a\s*>/gi,
      (_all, _quote, href: string, inner: string) => {
        const label = inner.replace(/<[^>]*>/g, "").trim();
        const target = href.trim();
        if (!label || unescapeHtml(label) === unescapeHtml(target)) {
          return target;
        }
        return /^(https?|mailto):/i.test(target) ? `${label} (${target})` : label;
      },
    )
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<li\b[^>]*>/gi, "\n- ")
    .replace(/<hr\b[^>]*>/gi, "\n----\n")
    .replace(
      /<\/(p|div|h[1-6]|tr|table|ul|ol|blockquote|section|header|footer)\s*>/gi,
      "\n\n",
    )
    .replace(/<[^>]*>/g, "");
  text = unescapeHtml(text)
    .replace(/\u00a0/g, " ")
    .replace(/[ \t]+/g, " ")
    .replace(/ *\n */g, "\n")
    .replace(/\n{3,}/g, "\n\n");
  return text.trim();
}
