import assert from "node:assert/strict";
import { htmlToText, textToHtml } from "./html.ts";
import { fromHeader, type MessageInput, renderMessage } from "./render.ts";
import { importTrackingKey, verifyToken } from "./tokens.ts";

const tracking = {
  baseUrl: "https://ref.supabase.co/functions/v1/track",
  key: importTrackingKey("a-tracking-secret-of-at-least-32-characters"),
};
const options = {
  tracking,
  defaultFrom: "Beacon <news@beacon.example>",
  postalAddress: "Beacon Ltd, 1 Harbour Row, Bristol BS1 4RN",
};

const input: MessageInput = {
  delivery_id: "0b9c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
  email_campaign_id: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
  email: "ada@example.com",
  first_name: "Ada",
  last_name: null,
  merge_data: { company: "Analytical & Co" },
  subject: "Hello {{first_name|there}}\r\nBcc: evil@example.com",
  content: `<html><body><h1>Hi {{first_name}}</h1>
<p>News for {{data.company}}: <a href="https://example.com/post?a=1&amp;b=2">read it</a>,
<a href='https://example.com/post?a=1&amp;b=2'>again</a>, <a href="mailto:help@example.com">mail us</a>,
<a href="#top">top</a>, or <a href="{{unsubscribe_url}}">leave</a>.</p></body></html>`,
  from_email: null,
  from_name: null,
  reply_to: "replies@beacon.example",
};

/** Every link target in an HTML part. */
const hrefs = (html: string) => [...html.matchAll(/href=(["'])(.*?)\1/g)].map((m) => m[2]);

Deno.test("an HTML campaign renders both parts, merged, with signed click links", () => {
  const message = renderMessage(input, options);
  assert.equal(
    message.subject,
    "Hello Ada Bcc: evil@example.com",
    "one line: no header injection",
  );
  assert.equal(message.from, "Beacon <news@beacon.example>");
  assert.equal(message.to, "ada@example.com");
  assert.equal(message.replyTo, "replies@beacon.example");
  assert.match(message.html, /<h1>Hi Ada<\/h1>/);
  assert.match(message.html, /News for Analytical &amp; Co/);

  const clicks = hrefs(message.html).filter((href) => href.includes("/click/"));
  assert.equal(
    clicks.length,
    2,
    "both http links are tracked, quoted either way",
  );
  assert.equal(clicks[0], clicks[1], "the same target gets the same link");
  const click = new URL(clicks[0].replaceAll("&amp;", "&"));
  assert.equal(
    click.origin + click.pathname.replace(/[^/]+$/, ""),
    `${tracking.baseUrl}/click/`,
  );
  const target = click.searchParams.get("u")!;
  assert.equal(target, "https://example.com/post?a=1&b=2");
  const token = click.pathname.split("/").pop()!;
  assert.equal(
    verifyToken(tracking.key, "click", token, target),
    input.delivery_id,
  );

  assert.ok(
    hrefs(message.html).includes("mailto:help@example.com"),
    "mailto is not tracked",
  );
  assert.ok(hrefs(message.html).includes("#top"));
  assert.ok(
    hrefs(message.html).filter((href) => href === message.unsubscribeUrl)
      .length >= 2,
    "the author's {{unsubscribe_url}} and the footer's link go straight to unsubscribe",
  );
  const pixel = /<img src="([^"]+)" width="1" height="1"/.exec(message.html)
    ?.[1];
  assert.ok(pixel?.startsWith(`${tracking.baseUrl}/open/`));
  assert.equal(
    verifyToken(tracking.key, "open", pixel!.split("/").pop()!),
    input.delivery_id,
  );
  assert.ok(
    message.html.indexOf("</body>") > message.html.indexOf(pixel!),
    "inside the body",
  );
  assert.match(message.html, /1 Harbour Row/);

  assert.match(
    message.text,
    /^Hi Ada\n\nNews for Analytical & Co: read it \(https:\/\/example\.com\/post\?a=1&b=2\)/,
  );
  assert.ok(
    !message.text.includes("/click/"),
    "the text part keeps the real links",
  );
  assert.match(
    message.text,
    /Unsubscribe: https:\/\/ref\.supabase\.co\/functions\/v1\/track\/unsubscribe\//,
  );
  assert.match(message.text, /Beacon Ltd, 1 Harbour Row, Bristol BS1 4RN\n$/);
});

Deno.test("every message carries RFC 8058 one-click unsubscribe headers", () => {
  const message = renderMessage(input, options);
  assert.deepEqual(message.headers, {
    "List-Unsubscribe": `<${message.unsubscribeUrl}>`,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  });
  const token = message.unsubscribeUrl.split("/").pop()!;
  assert.equal(
    verifyToken(tracking.key, "unsubscribe", token),
    input.delivery_id,
  );
});

Deno.test("rendering is deterministic, so a replayed send has the same payload", () => {
  assert.deepEqual(
    renderMessage(input, options),
    renderMessage(input, options),
  );
});

Deno.test("a plain-text campaign gets an HTML part; fallbacks fill missing names", () => {
  const message = renderMessage({
    ...input,
    first_name: "",
    subject: "For {{first_name|you}}",
    content: "Hi {{first_name|there}},\n\nSee https://example.com/x.\nBye <3",
  }, options);
  assert.equal(message.subject, "For you");
  assert.match(
    message.text,
    /^Hi there,\n\nSee https:\/\/example\.com\/x\.\nBye <3\n\n--\n/,
  );
  assert.match(
    message.html,
    /^<p>Hi there,<\/p>\n<p>See <a href="https:\/\/ref\.supabase\.co\/functions\/v1\/track\/click\//,
  );
  assert.match(message.html, /\.<br>\nBye &lt;3<\/p>/);
});

Deno.test("the sender: the campaign's, else the default's name and address", () => {
  assert.equal(
    fromHeader(input, options.defaultFrom),
    "Beacon <news@beacon.example>",
  );
  assert.equal(
    fromHeader(
      { ...input, from_name: "Ada at Acme, Inc." },
      options.defaultFrom,
    ),
    '"Ada at Acme, Inc." <news@beacon.example>',
  );
  assert.equal(
    fromHeader(
      { ...input, from_email: "ada@acme.example" },
      options.defaultFrom,
    ),
    "ada@acme.example",
  );
  assert.equal(
    fromHeader({
      ...input,
      from_email: "a@acme.example",
      from_name: "A <b>\r\n",
    }, "x@y.z"),
    "A b <a@acme.example>",
  );
});

Deno.test("text from HTML and HTML from text", () => {
  assert.equal(
    htmlToText(
      "<style>p{}</style><p>One&nbsp;&amp; two</p><ul><li>a</li><li>b</li></ul>" +
        '<a href="https://x.example/">https://x.example/</a><br>end &#8212; &#x263A;',
    ),
    "One & two\n\n- a\n- b\n\nhttps://x.example/\nend \u2014 \u263a",
  );
  assert.equal(textToHtml("a < b\n\nc"), "<p>a &lt; b</p>\n<p>c</p>");
});
