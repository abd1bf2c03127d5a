// Every statement the forms function runs: loading a form, and one call of
// private.submit_form per accepted post.
import type { Tx } from "../_shared/db.ts";

/** What a post needs to know about its form. */
export type Form = {
  id: string;
  user_id: string;
  fields: string[];
  double_opt_in: boolean;
  consent_text: string | null;
  success_url: string | null;
  confirm_url: string | null;
};

/** The active form `id`, or undefined. */
export async function activeForm(tx: Tx, id: string): Promise<Form | undefined> {
  const [form] = await tx<Form[]>`
    select f.id, f.user_id, f.fields, f.double_opt_in, f.consent_text, f.success_url, f.confirm_url
    from public.forms as f
    where f.id = ${id} and f.is_active`;
  return form;
}

export type Submission = {
  email: string;
  leadFields: Record<string, string>;
  customFields: Record<string, string>;
  ip?: string;
  userAgent: string | null;
};

export type Submitted = {
  lead_id: string;
  subscription_status: "subscribed" | "unconfirmed" | "unsubscribed";
  needs_confirmation: boolean;
};

/** Upserts the lead, joins the lists, records the consent (private.submit_form). */
export async function submitForm(tx: Tx, formId: string, s: Submission): Promise<Submitted> {
  const [row] = await tx<Submitted[]>`
    select * from private.submit_form(${formId}, ${s.email}, ${tx.json(s.leadFields)},
      ${tx.json(s.customFields)}, ${s.ip ?? null}::inet, ${s.userAgent})`;
  return row;
}
