// What one imported row means: a record (CSV cells by header name, or a JSON object) turned
// into the lead fields public.import_leads takes, or the problems that keep it out. Empty
// cells and nulls mean "not given" (an update keeps what the lead has); columns that are not
// lead fields go to custom_fields; the system's own columns (as the export writes them) are
// ignored.
import { z } from "zod";

export const LEAD_FIELDS = [
  "email",
  "first_name",
  "last_name",
  "company",
  "phone",
  "status",
  "source",
  "tags",
  "subscription_status",
  "custom_fields",
] as const;

/** Columns the export writes that an import leaves to the database. */
export const SYSTEM_COLUMNS = new Set([
  "id",
  "user_id",
  "email_normalized",
  "score",
  "created_at",
  "updated_at",
]);

export const STATUSES = [
  "new",
  "qualified",
  "contacted",
  "converted",
  "lost",
] as const;

/** public.leads.subscription_status (docs/audience.md#subscription-state). */
export const SUBSCRIPTION_STATUSES = [
  "subscribed",
  "unconfirmed",
  "unsubscribed",
] as const;

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const PHONE = /^\+?[0-9 ().-]{3,32}$/;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

const Tags = z.union([
  z.string().transform((value) => value.split(";")),
  z.array(z.string("each tag must be text")),
]).transform((
  tags,
) => [...new Set(tags.map((tag) => tag.trim()).filter((tag) => tag !== ""))])
  .pipe(
    z.array(text(200)).max(100, "at most 100 tags"),
  );

const CustomFields = z.union([
  z.string().transform((value, ctx) => {
    try {
      return JSON.parse(value);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be a JSON object" });
      return z.NEVER;
    }
  }),
  z.record(z.string(), z.unknown()),
]).pipe(z.record(z.string(), z.unknown(), "must be a JSON object"));

const Row = z.object({
  email: z.string("is required").max(320, "must be at most 320 characters")
    .regex(
      EMAIL,
      "must be an email address such as ada@example.com",
    ),
  first_name: text(200).optional(),
  last_name: text(200).optional(),
  company: text(200).optional(),
  phone: z.string().regex(
    PHONE,
    "must be 3-32 digits, spaces and ( ) . - with an optional +",
  )
    .optional(),
  status: z.enum(STATUSES, `must be one of ${STATUSES.join(", ")}`).optional(),
  source: text(200).optional(),
  tags: Tags.optional(),
  subscription_status: z.enum(
    SUBSCRIPTION_STATUSES,
    `must be one of ${SUBSCRIPTION_STATUSES.join(", ")}`,
  ).optional(),
  custom_fields: CustomFields.optional(),
});

export type LeadRow = z.output<typeof Row>;
export type RowError = { row: number; field: string | null; message: string };

/** A cell's value: strings trimmed, empty strings and nulls as "not given". */
function given(value: unknown): unknown {
  if (typeof value === "string") {
    const trimmed = value.trim();
    return trimmed === "" ? undefined : trimmed;
  }
  return value ?? undefined;
}

/** One record (field name → value) as a lead row, or its problems. */
export function toLeadRow(
  record: Record<string, unknown>,
  row: number,
): { lead: LeadRow } | { errors: RowError[] } {
  const lead: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(record)) {
    const value = given(raw);
    const key = name.trim().toLowerCase();
    if (SYSTEM_COLUMNS.has(key)) continue;
    if ((LEAD_FIELDS as readonly string[]).includes(key)) {
      if (value !== undefined) lead[key] = value;
    } else if (value !== undefined && name.trim() !== "") {
      extra[name.trim()] = value;
    }
  }
  const parsed = Row.safeParse(lead);
  if (!parsed.success) {
    return {
      errors: parsed.error.issues.map((issue) => ({
        row,
        field: issue.path.length > 0 ? String(issue.path[0]) : null,
        message: issue.message,
      })),
    };
  }
  const result = parsed.data;
  if (Object.keys(extra).length > 0) {
    result.custom_fields = { ...result.custom_fields, ...extra };
  }
  return { lead: result };
}

/** The header's names mapped as toLeadRow will: a file without an email column is refused. */
export function headerProblem(header: string[]): string | undefined {
  const names = header.map((name) => name.trim().toLowerCase());
  if (!names.includes("email")) {
    return `The file has no email column (its header is: ${header.join(", ") || "empty"}).`;
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name) && name !== "") {
      return `The header names the column "${name}" twice.`;
    }
    seen.add(name);
  }
}
