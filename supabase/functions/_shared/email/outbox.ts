// The local outbox: where messages go when no Resend key is configured (the local stack,
// a fresh project). Each message becomes `<dir>/<campaign id>/<recipient>.eml`, a file any
// mail client opens. Nothing leaves the machine. Writing is idempotent: a replayed send
// rewrites the same file, it never adds a second copy.
import { toEml } from "./eml.ts";
import type { RenderedMessage } from "./render.ts";

/** The provider message id recorded for an outbox delivery. */
export const outboxMessageId = (deliveryId: string) => `outbox-${deliveryId}`;

/** A file name from an address: lower-case, only characters every file system accepts. */
const fileName = (address: string) =>
  `${address.toLowerCase().replace(/[^a-z0-9@._+-]/g, "_").slice(0, 200)}.eml`;

export function outboxPath(dir: string, message: RenderedMessage): string {
  return `${dir.replace(/\/+$/, "")}/${message.campaignId}/${fileName(message.to)}`;
}

/** Writes the message's .eml file; returns its path. */
export async function writeToOutbox(
  dir: string,
  message: RenderedMessage,
  now = new Date(),
): Promise<string> {
  const path = outboxPath(dir, message);
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const eml = toEml(message, `${message.deliveryId}@outbox.beacon.local`, now);
  // Written beside, then renamed: a reader never sees half a file.
  const partial = `${path}.partial`;
  await Deno.writeTextFile(partial, eml);
  await Deno.rename(partial, path);
  return path;
}
