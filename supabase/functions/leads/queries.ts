// Every statement the leads function runs, as the signed-in user (the caller picks asUser).
import type { Tx } from "../_shared/db.ts";
import type { LeadRow } from "./rows.ts";

/** What public.import_leads did with one batch; `index` counts the batch's rows from 1. */
export type Batch = {
  inserted: number;
  updated: number;
  unchanged: number;
  errors: { index: number; field: string | null; message: string }[];
};

/** Writes one batch of rows in one statement (upsert, insert_only or update_only). */
export async function importLeads(
  tx: Tx,
  rows: LeadRow[],
  mode: string,
): Promise<Batch> {
  const [{ result }] = await tx<{ result: Batch }[]>`
    select public.import_leads(${tx.json(rows as never)}, ${mode}) as result`;
  return result;
}

/** Whether the caller has the segment `id` (RLS: only their own are visible). */
export async function hasSegment(tx: Tx, id: string): Promise<boolean> {
  const rows = await tx`select from public.segments where id = ${id}`;
  return rows.length === 1;
}

/**
 * The caller's leads as CSV cells, oldest first, a cursor of `size` rows at a time: all of
 * them, or those with a status and/or in a segment (public.segment_leads, the rows
 * segment_count counts).
 */
export function exportLeads(
  tx: Tx,
  filter: { status?: string; segment?: string },
  size: number,
) {
  const leads = filter.segment ? tx`public.segment_leads(${filter.segment})` : tx`public.leads`;
  return tx`
    select email, first_name, last_name, company, phone, status, source,
      array_to_string(tags, ';') as tags, subscription_status, score,
      to_json(created_at) #>> '{}' as created_at,
      to_json(updated_at) #>> '{}' as updated_at,
      custom_fields::text as custom_fields
    from ${leads} as l
    where ${filter.status ?? null}::text is null or status = ${filter.status ?? null}
    order by created_at, id`.cursor(size);
}
