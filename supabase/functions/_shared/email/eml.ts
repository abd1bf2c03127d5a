// A rendered message as an RFC 5322 / MIME file (.eml) that any mail client opens:
// multipart/alternative with the text and HTML parts in quoted-printable (readable in a text
// editor too), non-ASCII headers as RFC 2047 encoded words, CRLF line endings.
import { Buffer } from "node:buffer";
import type { RenderedMessage } from "./render.ts";

const CRLF = "\r\n";

/** RFC 2047 encoded word (UTF-8, base64) when the value is not plain ASCII. */
export function encodeHeader(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  return `=?UTF-8?B?${Buffer.from(value).toString("base64")}?=`;
}

/** A mailbox header value with an encoded display name when it needs one. */
function encodeMailbox(mailbox: string): string {
  const match = /^(.*?)\s*<([^<>]+)>$/.exec(mailbox);
  if (!match || /^[\x20-\x7e]*$/.test(match[1])) return mailbox;
  return `${encodeHeader(match[1].replace(/^"(.*)"$/, "$1"))} <${match[2]}>`;
}

/** Quoted-printable (RFC 2045): soft line breaks at 76 characters, CRLF hard breaks. */
export function quotedPrintable(text: string): string {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  return lines.map((line) => {
    let encoded = "";
    const bytes = Buffer.from(line);
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      const last = i === bytes.length - 1;
      const plain = (byte >= 33 && byte <= 126 && byte !== 61) ||
        ((byte === 32 || byte === 9) && !last);
      encoded += plain
        ? String.fromCharCode(byte)
        : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
    const out: string[] = [];
    while (encoded.length > 76) {
      let cut = 75;
      // Never split an =XX escape.
      const escape = encoded.lastIndexOf("=", cut);
      if (escape > cut - 3) cut = escape;
      out.push(`${encoded.slice(0, cut)}=`);
      encoded = encoded.slice(cut);
    }
    out.push(encoded);
    return out.join(CRLF);
  }).join(CRLF);
}

/** The .eml text of a message; `messageId` and `date` make it a complete, sendable file. */
export function toEml(
  message: RenderedMessage,
  messageId: string,
  date: Date,
): string {
  const boundary = `beacon-${message.deliveryId}`;
  const headers = [
    `From: ${encodeMailbox(message.from)}`,
    `To: ${message.to}`,
    ...(message.replyTo ? [`Reply-To: ${message.replyTo}`] : []),
    `Subject: ${encodeHeader(message.subject)}`,
    `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${messageId}>`,
    ...Object.entries(message.headers).map(([name, value]) => `${name}: ${value}`),
    `X-Beacon-Delivery: ${message.deliveryId}`,
    `X-Beacon-Campaign: ${message.campaignId}`,
    "MIME-Version: 1.0",
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
  ];
  const part = (type: string, body: string) =>
    [
      `--${boundary}`,
      `Content-Type: ${type}; charset=utf-8`,
      "Content-Transfer-Encoding: quoted-printable",
      "",
      quotedPrintable(body),
    ].join(CRLF);
  return [
    headers.join(CRLF),
    "",
    part("text/plain", message.text),
    part("text/html", message.html),
    `--${boundary}--`,
    "",
  ].join(CRLF);
}
