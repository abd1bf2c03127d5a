// Envelope for secrets Postgres must never be able to read: AES-256-GCM with keys that live
// only in the functions' environment.
//
// Stored form: `<version>.<nonce>.<ciphertext+tag>` (base64url), e.g. `v2.q83v....`.
// - a fresh random 96-bit nonce per encryption, so equal plaintexts never look equal;
// - the key version, so keys rotate without downtime: encrypt with the newest, decrypt with
//   whichever wrote the value, re-encrypt at leisure (see `needsRotation`);
// - associated data naming the owner and purpose (see `secretContext`, `tokenContext`), so a
//   ciphertext copied to another row or another user fails to decrypt.
import { Buffer } from "node:buffer";
import { z } from "zod";
import { readEnv } from "./env.ts";

export class DecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecryptError";
  }
}

type RingEntry = { version: string; key: CryptoKey };
export type KeyRing = { newest: RingEntry; byVersion: Map<string, CryptoKey> };

const VERSION = /^v[0-9]{1,6}$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const toBase64Url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** Strict base64 or base64url decoding: null for anything else (Buffer alone is lenient). */
function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return null;
  return new Uint8Array(
    Buffer.from(text, text.includes("-") || text.includes("_") ? "base64url" : "base64"),
  );
}

/**
 * Parses a key ring spec `v2:<base64 32 bytes>,v1:<base64 32 bytes>`, newest first.
 * Throws naming the bad entry (never echoing key material).
 */
export async function parseKeyRing(spec: string): Promise<KeyRing> {
  const entries = spec.split(",").map((part) => part.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error("the key ring is empty");
  const byVersion = new Map<string, CryptoKey>();
  const ordered: RingEntry[] = [];
  for (const [index, entry] of entries.entries()) {
    const [version, material, ...rest] = entry.split(":");
    if (!VERSION.test(version ?? "") || rest.length > 0 || material === undefined) {
      throw new Error(`key ${index + 1} must look like v<number>:<base64 key>`);
    }
    if (byVersion.has(version)) throw new Error(`key version ${version} appears twice`);
    const raw = fromBase64(material);
    if (raw === null || raw.length !== 32) {
      throw new Error(`key ${version} must be 32 bytes, base64-encoded (openssl rand -base64 32)`);
    }
    const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    byVersion.set(version, key);
    ordered.push({ version, key });
  }
  return { newest: ordered[0], byVersion };
}

/** Associated data for a user secret: bound to its owner and name. */
export const secretContext = (userId: string, name: string) => `user_secrets/${userId}/${name}`;

/** Associated data for an OAuth token: bound to its owner, platform and kind. */
export const tokenContext = (
  userId: string,
  platform: string,
  kind: "access_token" | "refresh_token",
) => `social_connections/${userId}/${platform}/${kind}`;

export async function encrypt(ring: KeyRing, plaintext: string, context: string): Promise<string> {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: encoder.encode(context) },
    ring.newest.key,
    encoder.encode(plaintext),
  );
  return `${ring.newest.version}.${toBase64Url(nonce)}.${toBase64Url(new Uint8Array(sealed))}`;
}

export async function decrypt(ring: KeyRing, stored: string, context: string): Promise<string> {
  const [version, nonceText, sealedText, ...rest] = stored.split(".");
  const nonce = fromBase64(nonceText ?? "");
  const sealed = fromBase64(sealedText ?? "");
  if (rest.length > 0 || !VERSION.test(version) || nonce?.length !== 12 || !sealed) {
    throw new DecryptError("the stored value is not a Beacon ciphertext");
  }
  const key = ring.byVersion.get(version);
  if (!key) {
    throw new DecryptError(
      `the value was encrypted with key ${version}, which is not in BEACON_ENCRYPTION_KEYS`,
    );
  }
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: encoder.encode(context) },
      key,
      sealed,
    );
    return decoder.decode(plain);
  } catch {
    throw new DecryptError(
      "the value does not decrypt: it was altered or belongs to another owner or name",
    );
  }
}

/** True when `stored` was written with a key other than the newest one. */
export const needsRotation = (ring: KeyRing, stored: string) =>
  !stored.startsWith(`${ring.newest.version}.`);

let configured: Promise<KeyRing> | undefined;

/** The key ring from BEACON_ENCRYPTION_KEYS, parsed once per process. */
export function keyRing(): Promise<KeyRing> {
  configured ??= parseKeyRing(
    readEnv({ BEACON_ENCRYPTION_KEYS: z.string() }).BEACON_ENCRYPTION_KEYS,
  ).catch((err) => {
    throw new Error(`BEACON_ENCRYPTION_KEYS: ${err.message}`);
  });
  return configured;
}

/** HMAC-SHA256 of `message` keyed with `secret`, as lowercase hex (signatures and proofs). */
export async function hmacSha256Hex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return Buffer.from(await crypto.subtle.sign("HMAC", key, encoder.encode(message))).toString(
    "hex",
  );
}
