// Reading an uploaded body as text, strictly: UTF-8 or a 400, never more than the limit (413),
// chunk by chunk; and writing CSV cells.
import { parse } from "csv-parse";
import { HttpError } from "../_shared/http.ts";

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;

export const tooLarge = (limit: number) =>
  new HttpError(
    413,
    "file_too_large",
    `The file is over ${mib(limit)}; split it into smaller files.`,
  );

/** The body's text chunks, decoded as UTF-8 (fatal) and at most `limit` bytes in all. */
export async function* utf8Chunks(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): AsyncGenerator<string> {
  if (!body) return;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let size = 0;
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      throw new HttpError(
        400,
        "invalid_encoding",
        `The file is not UTF-8 (the bytes after about ${size} bytes are not); save it as UTF-8 and send it again.`,
      );
    }
  };
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    yield decode(chunk);
  }
  const rest = decode();
  if (rest !== "") yield rest;
}

/**
 * The CSV records (arrays of cells) of `chunks`, parsed by csv-parse's streaming parser as they
 * arrive; the consumer's pace holds the reading back. A parse error is a 400 naming its line.
 */
export async function* csvRecords(
  chunks: AsyncIterable<string>,
): AsyncGenerator<string[]> {
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
  });
  let failure: unknown;
  const feeding = (async () => {
    try {
      for await (const chunk of chunks) {
        if (parser.destroyed) return;
        if (!parser.write(chunk)) {
          // Both listeners go once either fires: a large file waits for drain many times.
          await new Promise<void>((resolve) => {
            const done = () => {
              parser.off("drain", done);
              parser.off("close", done);
              resolve();
            };
            parser.once("drain", done);
            parser.once("close", done);
          });
        }
      }
      parser.end();
    } catch (err) {
      failure = err;
      parser.destroy();
    }
  })();
  try {
    for await (const record of parser) yield record as string[];
  } catch (err) {
    if (failure) throw failure;
    const message = err instanceof Error ? err.message : String(err);
    throw new HttpError(
      400,
      "invalid_csv",
      `The file is not valid CSV: ${message}`,
    );
  } finally {
    if (!parser.destroyed) parser.destroy();
    await feeding;
  }
  if (failure) throw failure;
}

/** One CSV cell, quoted when it must be (RFC 4180). */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvLine = (cells: unknown[]) => cells.map(csvCell).join(",") + "\r\n";
