// Double opt-in confirm tokens: what the link in a confirmation email carries so the forms
// function knows which lead confirms which form, until when, without a database lookup to trust
// it and without a way to forge or prolong one.
//
//   <payload>.<mac>   both base64url
//   payload = version (1 byte) · form id (16 bytes) · lead id (16 bytes) · expiry (4 bytes,
//             Unix seconds, big-endian)
//   mac     = HMAC-SHA256(BEACON_TRACKING_SECRET, "beacon-confirm/1" · payload), first 16 bytes
//
// The domain string keeps these apart from tracking tokens signed with the same key.
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { type TrackingKey, uuidBytes, uuidText } from "./tokens.ts";

const VERSION = 1;
const PAYLOAD_BYTES = 37;
const MAC_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type Confirmation = { formId: string; leadId: string; expiresAt: Date };

const mac = (key: TrackingKey, payload: Buffer) =>
  createHmac("sha256", key).update("beacon-confirm/1\n").update(payload).digest()
    .subarray(0, MAC_BYTES);

export function signConfirmToken(key: TrackingKey, c: Confirmation): string {
  const expiry = Buffer.alloc(4);
  expiry.writeUInt32BE(Math.floor(c.expiresAt.getTime() / 1000));
  const payload = Buffer.concat([
    Buffer.from([VERSION]),
    uuidBytes(c.formId.toLowerCase()),
    uuidBytes(c.leadId.toLowerCase()),
    expiry,
  ]);
  return `${payload.toString("base64url")}.${mac(key, payload).toString("base64url")}`;
}

/**
 * What a token confirms, "expired" when its signature holds but its time is up, or null when
 * it is malformed or not ours. Constant-time comparison.
 */
export function verifyConfirmToken(
  key: TrackingKey,
  token: string,
  now = new Date(),
): Confirmation | "expired" | null {
  const [payloadText, tagText, ...rest] = token.split(".");
  if (rest.length || !BASE64URL.test(payloadText ?? "") || !BASE64URL.test(tagText ?? "")) {
    return null;
  }
  const payload = Buffer.from(payloadText, "base64url");
  const tag = Buffer.from(tagText, "base64url");
  if (
    payload.length !== PAYLOAD_BYTES || tag.length !== MAC_BYTES ||
    payload.toString("base64url") !== payloadText || tag.toString("base64url") !== tagText ||
    payload[0] !== VERSION || !timingSafeEqual(mac(key, payload), tag)
  ) {
    return null;
  }
  const expiresAt = new Date(payload.readUInt32BE(33) * 1000);
  if (expiresAt <= now) return "expired";
  return {
    formId: uuidText(payload.subarray(1, 17)),
    leadId: uuidText(payload.subarray(17, 33)),
    expiresAt,
  };
}
