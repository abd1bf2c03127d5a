// leads: bringing a user's leads in and out in bulk, as the user (RLS and column grants apply).
//
//   POST /functions/v1/leads/import?mode=upsert|insert_only|update_only&dry_run=true
//        body: CSV (content-type text/csv, a header row) or a JSON array of objects
//        → 200 {"inserted", "updated", "unchanged", "failed", "errors": [{"row", "field", "message"}]}
//          (the first 1,000 errors; `row` counts data rows from 1, the header not counted)
//        → 400 the file as a whole is unusable: not UTF-8, not CSV/JSON, no email column,
//          a column named twice; 413 over the size limit (50 MiB); 415 another content type.
//          Nothing is changed then.
//   GET  /functions/v1/leads/export?status=new&segment=<id>  → 200 text/csv, every lead of the
//          caller (or those with that status and/or in that segment of theirs; 404 for a
//          segment that is not theirs), streamed: the columns of LEAD_COLUMNS, tags joined by ";",
//          custom_fields as a JSON column. Importing an export changes nothing.
//
// Columns map to lead fields by name (email, first_name, last_name, company, phone, status,
// source, tags, subscription_status, custom_fields); other columns go to custom_fields; id,
// score, created_at and updated_at are ignored. Empty cells leave a lead's field as it is
// (subscription_status: subscribed, unconfirmed or unsubscribed; an address that unsubscribed
// stays unsubscribed). tags is a ";"-separated list merged with the lead's tags; custom_fields
// (a JSON object) is merged into the lead's.
// Each row is validated here (zod), then written in batches of 1,000 through
// public.import_leads (one statement per batch, so scoring and lead_created workflows see the
// batch as a set); a row the database refuses is reported with its constraint's message and
// the rest go in. The whole import is one transaction: dry_run=true rolls it back and answers
// the counts it would have had; a malformed file discovered half-way rolls everything back.
// An email that appears twice in one file is applied in file order.
import type { Context } from "hono";
import { z } from "zod";
import { requireUser } from "../_shared/auth.ts";
import { asUser, type Tx, type UserClaims } from "../_shared/db.ts";
import { readEnv } from "../_shared/env.ts";
import { createApp, HttpError, readQuery } from "../_shared/http.ts";
import { csvLine, csvRecords, tooLarge, utf8Chunks } from "./csv.ts";
import { type Batch, exportLeads, hasSegment, importLeads } from "./queries.ts";
import {
  headerProblem,
  LEAD_FIELDS,
  type LeadRow,
  type RowError,
  STATUSES,
  toLeadRow,
} from "./rows.ts";

const BATCH_ROWS = 1000;
const MAX_ERRORS = 1000;

const settings = readEnv({
  BEACON_IMPORT_MAX_BYTES: z.coerce.number().int().min(1).default(
    50 * 1024 * 1024,
  ),
});

const ImportQuery = z.object({
  mode: z.enum(
    ["upsert", "insert_only", "update_only"],
    "must be upsert, insert_only or update_only",
  )
    .default("upsert"),
  dry_run: z.enum(["true", "false"], "must be true or false").default("false")
    .transform((value) => value === "true"),
});

const ExportQuery = z.object({
  status: z.enum(STATUSES, `must be one of ${STATUSES.join(", ")}`).optional(),
  segment: z.uuid("must be a segment id").optional(),
});

/** The export's columns: the lead fields, the system's (ignored on import), custom_fields last. */
export const LEAD_COLUMNS = [
  ...LEAD_FIELDS.filter((field) => field !== "custom_fields"),
  "score",
  "created_at",
  "updated_at",
  "custom_fields",
];

type Counts = {
  inserted: number;
  updated: number;
  unchanged: number;
  failed: number;
};
type Answer = Counts & { errors: RowError[] };

/**
 * Collects the answer: counts and the first MAX_ERRORS errors by row. A batch's errors arrive
 * after the parser's errors of later rows, so errors are kept sorted on the way; keeping the
 * lowest rows is always safe, as any error still to come can only push a higher one out.
 */
class Tally {
  counts: Counts = { inserted: 0, updated: 0, unchanged: 0, failed: 0 };
  errors: RowError[] = [];
  fail(errors: RowError[]) {
    this.counts.failed += 1;
    this.errors.push(...errors);
    if (this.errors.length > 2 * MAX_ERRORS) this.trim();
  }
  trim() {
    this.errors = this.errors.sort((a, b) => a.row - b.row).slice(
      0,
      MAX_ERRORS,
    );
  }
  get answer(): Answer {
    this.trim();
    return { ...this.counts, errors: this.errors };
  }
}

/**
 * Rows waiting to be written; flushed at BATCH_ROWS or before an email it holds already. One
 * batch is written while the next is parsed (the database and the parser overlap); a batch
 * waits for the one before, so batches apply in file order.
 */
class Writer {
  rows: LeadRow[] = [];
  numbers: number[] = [];
  emails = new Set<string>();
  writing: Promise<void> = Promise.resolve();
  constructor(readonly tx: Tx, readonly mode: string, readonly tally: Tally) {}

  async add(lead: LeadRow, row: number) {
    const key = lead.email.toLowerCase();
    if (this.emails.has(key) || this.rows.length >= BATCH_ROWS) {
      await this.flush();
    }
    this.rows.push(lead);
    this.numbers.push(row);
    this.emails.add(key);
  }

  /** Starts writing the held rows once the batch before is written. */
  async flush() {
    await this.writing;
    if (this.rows.length === 0) return;
    const numbers = this.numbers;
    this.writing = importLeads(this.tx, this.rows, this.mode).then((result) =>
      this.count(result, numbers)
    );
    // Its failure surfaces at the next flush or at finish; until then it is not unhandled.
    this.writing.catch(() => {});
    this.rows = [];
    this.numbers = [];
    this.emails.clear();
  }

  /** Writes what is held and waits for every batch. */
  async finish() {
    await this.flush();
    await this.writing;
  }

  count(result: Batch, numbers: number[]) {
    const { counts } = this.tally;
    counts.inserted += result.inserted;
    counts.updated += result.updated;
    counts.unchanged += result.unchanged;
    for (const error of result.errors) {
      this.tally.fail([{
        row: numbers[error.index - 1],
        field: error.field,
        message: error.message,
      }]);
    }
  }
}

/** Thrown to roll a dry run back once its counts are known. */
class DryRun extends Error {
  constructor(readonly answer: Answer) {
    super("dry run");
  }
}

async function importCsv(c: Context, writer: Writer, limit: number) {
  let header: string[] | undefined;
  let row = 0;
  for await (const record of csvRecords(utf8Chunks(c.req.raw.body, limit))) {
    if (!header) {
      header = record;
      const problem = headerProblem(header);
      if (problem) throw new HttpError(400, "invalid_header", problem);
      continue;
    }
    row += 1;
    if (record.length !== header.length) {
      writer.tally.fail([{
        row,
        field: null,
        message: `has ${record.length} fields; the header has ${header.length}`,
      }]);
      continue;
    }
    await take(
      writer,
      Object.fromEntries(header.map((name, i) => [name, record[i]])),
      row,
    );
  }
  if (!header) {
    throw new HttpError(
      400,
      "invalid_header",
      "The file is empty: send a header row with an email column.",
    );
  }
}

async function importJson(c: Context, writer: Writer, limit: number) {
  let text = "";
  for await (const chunk of utf8Chunks(c.req.raw.body, limit)) text += chunk;
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    throw new HttpError(
      400,
      "invalid_json",
      "The request body must be valid JSON (an array of lead objects).",
    );
  }
  text = "";
  if (!Array.isArray(rows)) {
    throw new HttpError(
      400,
      "invalid_json",
      "The JSON body must be an array of lead objects.",
    );
  }
  for (const [i, value] of rows.entries()) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      writer.tally.fail([{
        row: i + 1,
        field: null,
        message: "must be an object of lead fields",
      }]);
      continue;
    }
    await take(writer, value as Record<string, unknown>, i + 1);
  }
}

async function take(
  writer: Writer,
  record: Record<string, unknown>,
  row: number,
) {
  const result = toLeadRow(record, row);
  if ("errors" in result) writer.tally.fail(result.errors);
  else await writer.add(result.lead, row);
}

export function createLeadsApp(options: { maxBytes: number }) {
  const app = createApp("leads");

  app.post("/import", requireUser, async (c) => {
    const user: UserClaims = c.get("user");
    const { mode, dry_run } = readQuery(c, ImportQuery);
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim()
      .toLowerCase();
    const read = type === "text/csv"
      ? importCsv
      : type === "application/json"
      ? importJson
      : undefined;
    if (!read) {
      throw new HttpError(
        415,
        "unsupported_media_type",
        `Send the leads as text/csv (with a header row) or application/json (an array), not ${
          type || "no content type"
        }.`,
      );
    }
    const length = Number(c.req.header("content-length"));
    if (length > options.maxBytes) throw tooLarge(options.maxBytes);
    try {
      const answer = await asUser(user, async (tx) => {
        const tally = new Tally();
        const writer = new Writer(tx, mode, tally);
        await read(c, writer, options.maxBytes);
        await writer.finish();
        if (dry_run) throw new DryRun(tally.answer);
        return tally.answer;
      });
      return c.json(answer, 200);
    } catch (err) {
      if (err instanceof DryRun) return c.json(err.answer, 200);
      throw err;
    }
  });

  app.get("/export", requireUser, async (c) => {
    const user: UserClaims = c.get("user");
    const filter = readQuery(c, ExportQuery);
    // Checked before the 200 is sent: a stream cannot turn into an error status later.
    if (
      filter.segment &&
      !(await asUser(user, (tx) => hasSegment(tx, filter.segment!)))
    ) {
      throw new HttpError(
        404,
        "not_found",
        `segment: no segment ${filter.segment} among yours`,
      );
    }
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          controller.enqueue(encoder.encode(csvLine(LEAD_COLUMNS)));
          await asUser(user, async (tx) => {
            const rows = exportLeads(tx, filter, 1000);
            for await (const batch of rows) {
              controller.enqueue(encoder.encode(
                batch.map((lead) => csvLine(LEAD_COLUMNS.map((column) => lead[column]))).join(""),
              ));
            }
          });
          controller.close();
        } catch (err) {
          console.error("[leads] export failed:", err);
          controller.error(err);
        }
      },
    });
    return c.body(body, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": 'attachment; filename="leads.csv"',
    });
  });

  return app;
}

export const app = createLeadsApp({
  maxBytes: settings.BEACON_IMPORT_MAX_BYTES,
});
