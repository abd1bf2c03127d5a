import assert from "node:assert/strict";
import { encodeHeader, quotedPrintable, toEml } from "./eml.ts";
import { outboxPath, writeToOutbox } from "./outbox.ts";
import type { RenderedMessage } from "./render.ts";

const message: RenderedMessage = {
  deliveryId: "0b9c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
  campaignId: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
  from: "Zoë at Beacon <news@beacon.example>",
  to: "Ada@Example.com",
  subject: "Grüße, Ada",
  html: `<p>${"A long line with = signs and ünïcödé ".repeat(5)}</p>`,
  text: "Hi Ada,\n\nBye",
  headers: {
    "List-Unsubscribe": "<https://t.example/unsubscribe/abc>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  },
  unsubscribeUrl: "https://t.example/unsubscribe/abc",
};

Deno.test("quoted-printable keeps lines within 76 characters and round-trips", () => {
  const encoded = quotedPrintable(message.html + " \nnext");
  for (const line of encoded.split("\r\n")) assert.ok(line.length <= 76, line);
  const decoded = new TextDecoder().decode(
    Uint8Array.from(
      encoded.replace(/=\r\n/g, "").replace(/\r\n/g, "\n").replace(
        /=([0-9A-F]{2})|[\s\S]/g,
        (all, hex) => String.fromCharCode(hex ? parseInt(hex, 16) : all.charCodeAt(0)),
      ),
      (c) => c.charCodeAt(0),
    ),
  );
  assert.equal(decoded, message.html + " \nnext");
  assert.ok(
    encoded.includes("=20\r\nnext"),
    "a space at a line end is encoded",
  );
});

Deno.test("the .eml has the headers a mail client needs, encoded where not ASCII", () => {
  const eml = toEml(
    message,
    "id@outbox.beacon.local",
    new Date("2026-11-25T10:00:00Z"),
  );
  const [head, body] = eml.split("\r\n\r\n");
  assert.match(
    head,
    /^From: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?= <news@beacon\.example>\r\n/,
  );
  assert.equal(encodeHeader("Grüße, Ada"), "=?UTF-8?B?R3LDvMOfZSwgQWRh?=");
  assert.match(head, /\r\nSubject: =\?UTF-8\?B\?R3LDvMOfZSwgQWRh\?=\r\n/);
  assert.match(head, /\r\nDate: Wed, 25 Nov 2026 10:00:00 \+0000\r\n/);
  assert.match(head, /\r\nMessage-ID: <id@outbox\.beacon\.local>\r\n/);
  assert.match(
    head,
    /\r\nList-Unsubscribe: <https:\/\/t\.example\/unsubscribe\/abc>\r\n/,
  );
  assert.match(
    head,
    /\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n/,
  );
  assert.match(
    head,
    /Content-Type: multipart\/alternative; boundary="beacon-0b9c1e2f/,
  );
  assert.match(
    body,
    /^--beacon-0b9c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f\r\nContent-Type: text\/plain/,
  );
  assert.ok(
    eml.endsWith("--beacon-0b9c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f--\r\n"),
  );
  assert.ok(!/[^\r]\n/.test(eml), "CRLF line endings only");
});

Deno.test("the outbox writes one file per recipient and campaign; a replay rewrites it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "beacon-outbox-" });
  try {
    const path = await writeToOutbox(dir, message);
    assert.equal(path, `${dir}/${message.campaignId}/ada@example.com.eml`);
    assert.equal(outboxPath(`${dir}/`, message), path);
    await writeToOutbox(dir, message);
    const files = [...Deno.readDirSync(`${dir}/${message.campaignId}`)].map((
      e,
    ) => e.name);
    assert.deepEqual(files, ["ada@example.com.eml"]);
    assert.match(await Deno.readTextFile(path), /^From: /);
    assert.equal(
      outboxPath(dir, { ...message, to: "../../etc/passwd@x.y" }),
      `${dir}/${message.campaignId}/.._.._etc_passwd@x.y.eml`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
